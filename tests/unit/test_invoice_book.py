"""The invoice book and the ledger's order lookup: an invoice is booked once whatever
retries or resends, orders are found by the number people read, and an old ledger file
gains what invoices need."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest
from use_cases.invoices import BookInvoice, Invoice, invoice_key


def order(key: str, supplier: str | None = "ACME Ltd") -> CreatePurchaseOrder:
    request = PurchaseRequest(
        requester="bob@example.com",
        items=[LineItem(description="laptops", quantity=5)],
        budget=5000,
        currency="EUR",
        supplier=supplier,
    )
    return CreatePurchaseOrder(po_key=key, thread_id=f"thread-{key}", request=request)


def entry(number: str = "INV-1", amount: float = 100.0, **changes: str) -> BookInvoice:
    invoice = Invoice(supplier="ACME Ltd", invoice_number=number, amount=amount)
    return BookInvoice(invoice=invoice, po_number="PO-2026-00001", **changes)


async def test_booking_an_invoice_twice_returns_the_first_booking(tmp_path: Path) -> None:
    book = SqliteInvoiceBook(tmp_path / "ledger.sqlite")
    key = invoice_key("ACME Ltd", "INV-1")
    assert await book.booked(key) is None
    first = await book.book(entry())
    again = await book.book(entry(amount=999.0, approved_by="alice@example.com"))
    assert again == first and first.amount == 100.0 and first.approved_by is None
    assert await book.booked(key) == first


async def test_the_same_number_spelled_differently_is_the_same_invoice(tmp_path: Path) -> None:
    book = SqliteInvoiceBook(tmp_path / "ledger.sqlite")
    first = await book.book(entry("INV-1"))
    resent = BookInvoice(
        invoice=Invoice(supplier="acme limited", invoice_number="inv 1", amount=100.0)
    )
    assert await book.book(resent) == first


async def test_concurrent_bookings_of_one_invoice_book_it_once(tmp_path: Path) -> None:
    book = SqliteInvoiceBook(tmp_path / "ledger.sqlite")
    bookings = await asyncio.gather(*(book.book(entry()) for _ in range(8)))
    assert len({b.booked_at for b in bookings}) == 1
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        assert db.execute("SELECT count(*) FROM invoices").fetchone() == (1,)


async def test_orders_and_invoices_share_the_ledger_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger, book = SqliteLedger(path), SqliteInvoiceBook(path)
    po = await ledger.create_purchase_order(order("a"))
    await book.book(entry())
    assert ledger.purchase_orders() == [po]
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"purchase_orders", "invoices"} <= tables


async def test_an_order_is_found_by_its_number_with_supplier_and_currency(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    created = await ledger.create_purchase_order(order("a"))
    await ledger.create_purchase_order(order("b", supplier=None))
    found = await ledger.purchase_order(created.po_number)
    assert found is not None and found.order == created
    assert (found.supplier, found.currency) == ("ACME Ltd", "EUR")
    second = await ledger.purchase_order(created.po_number.replace("00001", "00002"))
    assert second is not None and second.supplier is None


async def test_a_number_the_ledger_never_gave_finds_no_order(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    assert await ledger.purchase_order("PO-2026-00001") is None  # no ledger file yet
    created = await ledger.create_purchase_order(order("a"))
    year = created.created_at.year
    for number in (f"PO-{year}-00002", f"PO-{year - 1}-00001", "INV-1", ""):
        assert await ledger.purchase_order(number) is None, number


async def test_an_old_ledger_file_gains_the_supplier_column_and_keeps_its_orders(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:  # the ledger as it was: no currency, no supplier
        db.execute(
            "CREATE TABLE purchase_orders (seq INTEGER PRIMARY KEY AUTOINCREMENT, po_key TEXT "
            "NOT NULL UNIQUE, thread_id TEXT NOT NULL, requester TEXT NOT NULL, total REAL, "
            "items TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO purchase_orders (po_key, thread_id, requester, total, items, created_at)"
            " VALUES ('old', 't', 'bob@example.com', 480.0, '[]', '2026-12-01T10:00:00+00:00')"
        )
    ledger = SqliteLedger(path)
    old = await ledger.purchase_order("PO-2026-00001")
    assert old is not None and (old.order.total, old.supplier, old.currency) == (480.0, None, None)
    new = await ledger.create_purchase_order(order("new"))
    recorded = await ledger.purchase_order(new.po_number)
    assert recorded is not None and recorded.supplier == "ACME Ltd"


async def test_an_order_number_as_an_agent_may_write_it_is_found(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    created = await ledger.create_purchase_order(order("a"))
    year = created.created_at.year
    for written in (f"PO-{year}-1", f"po {year}/00001", f" PO-{year}-00001 "):
        found = await ledger.purchase_order(written)
        assert found is not None and found.order == created, written
