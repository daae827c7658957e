"""What `mailroom erase` finds and removes of one person in each store, on SQLite and
PostgreSQL alike: their threads (the one they wrote alone goes; the one shared with bob
stays, without them), the relay's log rows and the automatic-mail rows about them, the
requester of their purchase orders (the number stays). Nobody else's records change, and a
dry run changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.outbound.auto_reply_log import SqliteAutoReplyLog
from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.person_records import SqlitePersonRecords
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_auto_reply_log import PostgresAutoReplyLog
from adapters.outbound.postgres_invoice_book import PostgresInvoiceBook
from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.postgres_person_records import PostgresPersonRecords
from adapters.outbound.postgres_pool import Database
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.smtp_sender import SentLog
from adapters.outbound.thread_index import SqliteThreadIndex
from use_cases.erasure import ERASED, PersonRecords, with_sharing
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest
from use_cases.invoices import BookInvoice, Invoice, invoice_key
from use_cases.mail import OutboxEntry
from use_cases.models import ThreadEntry
from use_cases.reply_cap import AutomaticMailCaps, capped_address

SUPPORT = "support@mailroom.local"
ALICE, BOB = "alice@example.com", "bob@example.com"
NOW = datetime.now(UTC)


@dataclass
class Backend:
    records: PersonRecords
    index: Any
    sent: Any
    automatic: Any
    ledger: Any
    invoices: Any


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    database = None
    if request.param == "sqlite":
        made = Backend(
            SqlitePersonRecords(tmp_path),
            SqliteThreadIndex(tmp_path / "threads.sqlite"),
            SentLog(tmp_path / "sent.sqlite"),
            SqliteAutoReplyLog(tmp_path / "auto_replies.sqlite"),
            SqliteLedger(tmp_path / "ledger.sqlite"),
            SqliteInvoiceBook(tmp_path / "ledger.sqlite"),
        )
    else:
        url = request.getfixturevalue("postgres_url")
        migrate(url)
        database = Database(url)
        made = Backend(
            PostgresPersonRecords(database),
            PostgresThreadIndex(database),
            PostgresSentLog(url),
            PostgresAutoReplyLog(database),
            PostgresLedger(url),
            PostgresInvoiceBook(url),
        )
    await seed(made)
    yield made
    await made.index.close()
    await made.automatic.close()
    if database is not None:
        await database.close()


async def seed(backend: Backend) -> None:
    for thread, people in (("alone", ["Alice@Example.com"]), ("shared", [ALICE, BOB])):
        entry = ThreadEntry(
            workflow_id=thread,
            message_ids=(f"<{thread}@x>",),
            participants=(*people, SUPPORT),
            at=NOW,
        )
        await backend.index.record(SUPPORT, thread, entry)
    for n, to in enumerate(("Alice <alice@example.com>", BOB)):
        backend.sent.record(
            OutboxEntry(
                message_id=f"<sent-{n}@x>",
                to=[to],
                subject="re",
                in_reply_to=None,
                references=[],
                reply_to=None,
                sent_at=NOW,
                from_addr=SUPPORT,
            )
        )
    caps = AutomaticMailCaps()
    await backend.automatic.reserve("<auto-1@x>", [ALICE, BOB], NOW, caps)
    for key, requester in (("a", "Alice@example.com"), ("b", BOB)):
        request = PurchaseRequest(
            requester=requester, items=[LineItem(description="chairs", quantity=2)]
        )
        await backend.ledger.create_purchase_order(
            CreatePurchaseOrder(po_key=key, thread_id=f"thread-{key}", request=request)
        )
        invoice = Invoice(supplier="ACME", invoice_number=f"INV-{key}", amount=9.5, currency="EUR")
        await backend.invoices.book(BookInvoice(invoice=invoice, approved_by=requester))


def ours(address: str) -> bool:
    return address == SUPPORT


async def erase(backend: Backend, *, dry_run: bool) -> dict[str, int]:
    records = backend.records
    threads = with_sharing(await records.threads_of(ALICE), ALICE, ours)
    assert {(t.workflow_id, t.shared) for t in threads} == {("alone", False), ("shared", True)}
    return {
        "threads": await records.remove_threads(threads, ALICE, dry_run=dry_run),
        "sent": await records.remove_sent(ALICE, dry_run=dry_run),
        "automatic": await records.remove_automatic_mail(capped_address(ALICE), dry_run=dry_run),
        "orders": await records.anonymise_orders(ALICE, dry_run=dry_run),
        "invoices": await records.anonymise_invoices(ALICE, dry_run=dry_run),
    }


async def test_a_dry_run_counts_what_erasure_removes_and_changes_nothing(
    backend: Backend,
) -> None:
    counted = await erase(backend, dry_run=True)
    assert counted == {"threads": 1, "sent": 1, "automatic": 1, "orders": 1, "invoices": 1}
    assert counted == await erase(backend, dry_run=False)


async def test_erasure_leaves_nothing_of_the_person_and_everything_of_others(
    backend: Backend,
) -> None:
    await erase(backend, dry_run=False)

    assert await backend.index.threads_of(["<alone@x>", "<shared@x>"], SUPPORT) == {
        "<shared@x>": "shared"
    }
    assert await backend.records.threads_of(ALICE) == []
    (shared,) = await backend.records.threads_of(BOB)
    assert shared.participants == [BOB, SUPPORT]
    assert [e.to for e in backend.sent.entries()] == [[BOB]]
    since = NOW - timedelta(hours=1)
    assert await backend.automatic.sent_since(ALICE, since) == 0
    assert await backend.automatic.sent_since(BOB, since) == 1
    orders = {o.requester: o.po_number for o in backend.ledger.purchase_orders()}
    assert set(orders) == {ERASED, BOB} and orders[ERASED] != orders[BOB]
    booked = [await backend.invoices.booked(invoice_key("ACME", f"INV-{k}")) for k in "ab"]
    assert [b.approved_by if b else None for b in booked] == [ERASED, BOB]
