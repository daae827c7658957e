"""SIGKILL of the SMTP adapter mid-stream; restarted on the same port, clients retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Deployment
from tests.faults.mta import SendingMta, conversation_mails
from tests.support import wait_for

pytestmark = pytest.mark.slow


async def test_a_killed_smtp_adapter_loses_and_repeats_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    await deployment.start_temporal()
    await deployment.start_worker()
    smtp = await deployment.start_smtp()
    mails = conversation_mails(deployment.tag, threads=40, per_thread=4)
    mta = SendingMta(deployment.smtp_port, mails, rate=20, clients=6)
    mta.start()
    try:
        await wait_for(lambda: mta.accepted >= len(mails) // 3, what="a third accepted")
        smtp.kill()
        await wait_for(lambda: mta.outcomes.dropped >= 3, what="clients finding it gone")
        await deployment.start_smtp()
        await wait_for(lambda: mta.done, timeout=60, what="every mail accepted")
    finally:
        mta.stop()
    books = await settled_books(
        lambda: read_books(mta, deployment.gateway, deployment.outbox_replies()), timeout=60
    )
    report(books, "smtp SIGKILL", tmp_path)
    assert books.dropped >= 3, "the kill was felt by the clients"
    assert books.balanced, books.evidence()
