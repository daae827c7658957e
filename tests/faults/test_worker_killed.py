"""SIGKILL of the worker mid-stream; a new worker picks the threads up. Meanwhile nothing
applies accepted mail, so once it has waited past MAILROOM_MAX_BACKLOG_SECONDS the adapter
holds new senders, then defers them (451 4.3.2), and the sending MTAs keep the mail until the
new worker catches up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Deployment
from tests.faults.mta import SendingMta, conversation_mails
from tests.support import wait_for

pytestmark = pytest.mark.slow


async def test_a_killed_worker_loses_and_repeats_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    await deployment.start_temporal()
    worker = await deployment.start_worker()
    await deployment.start_smtp()
    mails = conversation_mails(deployment.tag, threads=40, per_thread=4)
    mta = SendingMta(deployment.smtp_port, mails, rate=16)
    mta.start()
    try:
        await wait_for(lambda: mta.accepted >= len(mails) // 3, what="a third accepted")
        worker.kill()
        killed_at = time.monotonic()
        await wait_for(
            lambda: mta.outcomes.replies[451] >= 3, what="451 4.3.2 while no worker applies mail"
        )
        await deployment.start_worker()
        restarted_at = time.monotonic()
        await wait_for(lambda: mta.done, timeout=60, what="every mail accepted")
    finally:
        mta.stop()
    books = await settled_books(
        lambda: read_books(mta, deployment.gateway, deployment.outbox_replies()), timeout=90
    )
    books.notes.append(
        f"no worker for {restarted_at - killed_at:.1f}s; "
        f"settled {time.monotonic() - restarted_at:.1f}s after the new one started"
    )
    report(books, "worker SIGKILL", tmp_path)
    assert books.balanced, books.evidence()
