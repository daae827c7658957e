"""A mail whose subject carries a thread's ticket reference ("[#K7Q2MX]") joins that thread
of its mailbox when no threading header or token placed it; a reference two threads share
is ignored. Through the ingest use case, with the in-memory and the SQLite thread index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.inbound.mime import parse_email
from adapters.outbound.thread_index import SqliteThreadIndex
from tests.fakes import FakeBlobStore, FakeThreadGateway, FakeThreadIndex
from use_cases.ingest import ingest_email
from use_cases.mailboxes import Mailboxes
from use_cases.models import ThreadEntry
from use_cases.ports import ThreadIndex
from use_cases.threading import Threading
from use_cases.tickets import ticket_reference

SUPPORT = "support@mailroom.local"
SALES = "sales@mailroom.local"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class Desk:
    def __init__(self, index: ThreadIndex) -> None:
        self.index = index
        self.gateway = FakeThreadGateway()
        self.threading = Threading(
            index=index, secret=b"test-secret", mailboxes=Mailboxes(["mailroom.local"])
        )

    async def receive(self, message_id: str, subject: str, *, to: str = SUPPORT) -> str:
        """The workflow id the mail was handed to (in the mailbox `to`)."""
        raw = (
            f"From: Bob <bob@example.net>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n\r\nhello\r\n"
        ).encode()
        await ingest_email(
            raw,
            mailboxes=[to],
            gateway=self.gateway,
            parse=parse_email,
            received_at=NOW,
            blobs=FakeBlobStore(),
            threading=self.threading,
        )
        return self.gateway.handed_off[-1][0].workflow_id

    def rule_of(self, message_id: str) -> str:
        return next(k.rule for k, m in self.gateway.handed_off if m.message_id == message_id)


@pytest.fixture(params=["fake", "sqlite"])
async def desk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Desk]:
    if request.param == "fake":
        yield Desk(FakeThreadIndex())
        return
    index = SqliteThreadIndex(tmp_path / "threads.sqlite")
    yield Desk(index)
    await index.close()


async def test_a_mail_naming_the_reference_joins_its_thread(desk: Desk) -> None:
    thread = await desk.receive("<q1@example.com>", "Printer on fire")
    reference = ticket_reference(thread)
    joined = await desk.receive("<b2@example.net>", f"About my ticket [#{reference.lower()}]")
    assert joined == thread and desk.rule_of("<b2@example.net>") == "ticket-reference"


async def test_an_unknown_reference_or_another_mailbox_opens_a_new_thread(desk: Desk) -> None:
    thread = await desk.receive("<q1@example.com>", "Printer on fire")
    reference = ticket_reference(thread)
    elsewhere = await desk.receive("<s2@example.net>", f"Quote [#{reference}]", to=SALES)
    unknown = await desk.receive("<u3@example.net>", "Hello [#ABCDEF]")
    assert thread not in (elsewhere, unknown)
    assert desk.rule_of("<s2@example.net>") == desk.rule_of("<u3@example.net>") == "new-thread"


async def test_a_reference_two_threads_share_is_ignored(desk: Desk) -> None:
    thread = await desk.receive("<q1@example.com>", "Printer on fire")
    reference = ticket_reference(thread)
    twin = "thread-support@mailroom.local-0123456789abcdef"  # ~1 in 10^9: it can happen
    await desk.index.record(
        SUPPORT, twin, ThreadEntry(workflow_id=twin, at=NOW, reference=reference)
    )
    placed = await desk.receive("<b2@example.net>", f"Re: [#{reference}] my printer")
    assert placed not in (thread, twin) and desk.rule_of("<b2@example.net>") == "new-thread"
