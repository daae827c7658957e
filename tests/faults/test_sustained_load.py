"""Sustained load: 30 s at 80 % of the rate measured by a burst in the same run; no error,
every book balanced, worker memory reported at start and end."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest

from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Child, Deployment
from tests.faults.mta import SendingMta, conversation_mails
from tests.support import wait_for

pytestmark = pytest.mark.slow
SECONDS = 30
SHARE_OF_MAX = 0.8
BURST_THREADS = 40
PER_THREAD = 5
CLIENTS = 4
ERROR_LINE = re.compile(r'"level": "(error|critical)"|Traceback|\bERROR\b')


class RssSamples:
    """The worker's resident memory, sampled about once a second while we wait anyway."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.samples: list[int] = [child.rss_kb()]
        self._last = time.monotonic()

    def sample(self) -> bool:
        if time.monotonic() - self._last >= 1.0:
            self.samples.append(self.child.rss_kb())
            self._last = time.monotonic()
        return True

    def describe(self) -> str:
        start, end, peak = (
            kb // 1024 for kb in (self.samples[0], self.samples[-1], max(self.samples))
        )
        return f"worker RSS start {start} MB, end {end} MB, peak {peak} MB"


async def test_thirty_seconds_at_80_percent_of_the_max_balance_without_error(
    deployment: Deployment, tmp_path: Path
) -> None:
    await deployment.start_temporal()
    worker = await deployment.start_worker()
    smtp = await deployment.start_smtp()
    rss = RssSamples(worker)
    burst = conversation_mails(f"{deployment.tag}-b", threads=BURST_THREADS, per_thread=PER_THREAD)
    mta = SendingMta(deployment.smtp_port, burst, rate=math.inf, clients=CLIENTS)
    began = time.monotonic()
    mta.start()
    try:
        await wait_for(lambda: rss.sample() and mta.done, what="the burst accepted")
        maximum = len(burst) / (time.monotonic() - began)
        rate = SHARE_OF_MAX * maximum
        threads = int(rate * SECONDS) // PER_THREAD
        steady = conversation_mails(deployment.tag, threads=threads, per_thread=PER_THREAD)
        steady_from = time.monotonic()
        mta.extend(steady, rate=rate)
        await wait_for(
            lambda: rss.sample() and mta.done, timeout=SECONDS * 2, what="every mail accepted"
        )
        steady_for = time.monotonic() - steady_from
    finally:
        mta.stop()
    books = await settled_books(
        lambda: read_books(mta, deployment.gateway, deployment.outbox_replies()), timeout=60
    )
    lag = time.monotonic() - mta.outcomes.last_accepted_at
    rss.sample()
    (tmp_path / "rss-kb.txt").write_text(" ".join(str(kb) for kb in rss.samples) + "\n")
    errors = [
        line for c in (worker, smtp) for line in c.log().splitlines() if ERROR_LINE.search(line)
    ]
    books.notes += [
        f"burst max {maximum:.0f} mails/s, then {len(steady) / steady_for:.1f} mails/s "
        f"for {steady_for:.0f}s (target {rate:.0f})",
        f"settled {lag:.1f}s after the last 250",
        rss.describe(),
        f"{len(errors)} error log lines",
    ]
    report(books, "sustained load", tmp_path)
    assert books.balanced, books.evidence()
    assert books.deferred == books.dropped == 0, "no 4xx and no dropped connection"
    assert not errors, errors[:5]
    assert worker.alive and smtp.alive
