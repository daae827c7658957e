"""The outbound SMTP relay down for a while, then back: every acknowledgement arrives once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.books import read_books, report, settled_books
from tests.faults.deployment import Deployment, RelaySink
from tests.faults.mta import SendingMta, conversation_mails
from tests.support import wait_for

pytestmark = pytest.mark.slow


async def test_acknowledgements_reach_a_relay_that_was_down_exactly_once(
    relayed_deployment: Deployment, relay: RelaySink, tmp_path: Path
) -> None:
    deployment = relayed_deployment
    await deployment.start_temporal()
    worker = await deployment.start_worker()
    await deployment.start_smtp()
    mails = conversation_mails(deployment.tag, threads=40, per_thread=4)
    mta = SendingMta(deployment.smtp_port, mails, rate=16)
    mta.start()
    try:
        await wait_for(lambda: sum(relay.received.values()) >= 8, what="acks at the relay")
        relay.stop()
        received_while_up = sum(relay.received.values())
        down_at = mta.accepted
        # down while a third of the stream arrives (~3 s): those threads' acks must wait
        await wait_for(lambda: mta.accepted >= down_at + len(mails) // 3, what="mail meanwhile")
        relay.start()
        await wait_for(lambda: mta.done, timeout=60, what="every mail accepted")
    finally:
        mta.stop()
    books = await settled_books(
        lambda: read_books(mta, deployment.gateway, relay.received), timeout=60
    )
    failed = worker.log().count("Completing activity as failed")
    books.notes.append(f"relay down after {received_while_up} acks; {failed} sends failed")
    report(books, "relay down", tmp_path)
    assert failed > 0, "sends failed while the relay was down"
    assert books.balanced, books.evidence()
