"""SIGKILL of the embedded Temporal server mid-stream; restarted on the same SQLite file and
port. Meanwhile the SMTP adapter answers 451 and the clients retry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Deployment
from tests.faults.mta import SendingMta, conversation_mails
from tests.support import wait_for

pytestmark = pytest.mark.slow


async def test_a_killed_temporal_server_loses_and_repeats_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    await deployment.start_temporal()
    worker = await deployment.start_worker()
    smtp = await deployment.start_smtp()
    mails = conversation_mails(deployment.tag, threads=40, per_thread=4)
    mta = SendingMta(deployment.smtp_port, mails, rate=16, clients=6)
    mta.start()
    try:
        await wait_for(lambda: mta.accepted >= len(mails) // 3, what="a third accepted")
        assert deployment.temporal is not None
        deployment.temporal.kill()
        killed_at = time.monotonic()
        await wait_for(lambda: mta.outcomes.replies[451] >= 3, what="451 while it is down")
        await deployment.start_temporal()
        down = time.monotonic() - killed_at
        await wait_for(lambda: mta.done, timeout=90, what="every mail accepted")
    finally:
        mta.stop()
    books = await settled_books(
        lambda: read_books(mta, deployment.gateway, deployment.outbox_replies()), timeout=90
    )
    books.notes.append(f"server down {down:.1f}s")
    report(books, "temporal SIGKILL", tmp_path)
    assert worker.alive and smtp.alive, "worker and adapter rode out the outage"
    assert books.balanced, books.evidence()
