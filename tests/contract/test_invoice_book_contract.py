"""The invoice book's contract, on SQLite and PostgreSQL: an invoice is booked once however
many nodes book it, found by its key, and listed against its order in booking order."""

from __future__ import annotations

import asyncio

import pytest

from adapters.outbound.invoice_book import UnbookableInvoice
from tests.contract.conftest import Stores
from use_cases.invoices import BookInvoice, Invoice, invoice_key


def entry(number: str = "INV-1", amount: float = 100.0, **changes: str) -> BookInvoice:
    invoice = Invoice(supplier="ACME Ltd", invoice_number=number, amount=amount, currency="eur")
    return BookInvoice(invoice=invoice, po_number="PO-2026-00001", **changes)


async def test_booking_an_invoice_twice_returns_the_first_booking(stores: Stores) -> None:
    book = stores("invoice_book")
    key = invoice_key("ACME Ltd", "INV-1")
    assert await book.booked(key) is None
    first = await book.book(entry())
    again = await stores("invoice_book").book(entry(amount=999.0, approved_by="a@example.com"))
    assert again == first and first.amount == 100.0 and first.approved_by is None
    assert first.currency == "EUR" and first.po_number == "PO-2026-00001"
    assert await stores("invoice_book").booked(key) == first


async def test_nodes_booking_one_invoice_at_once_book_it_once(stores: Stores) -> None:
    nodes = [stores("invoice_book") for _ in range(4)]
    bookings = await asyncio.gather(*(n.book(entry()) for n in nodes * 3))
    assert len({(b.booked_at, b.invoice_key) for b in bookings}) == 1
    assert len(await nodes[0].booked_against("PO-2026-00001")) == 1


async def test_invoices_are_listed_against_their_order_in_booking_order(stores: Stores) -> None:
    book = stores("invoice_book")
    for number in ("INV-9", "INV-2", "INV-5"):
        await book.book(entry(number))
    await book.book(BookInvoice(invoice=Invoice(supplier="ACME Ltd", invoice_number="X", amount=1)))
    listed = await stores("invoice_book").booked_against("PO-2026-00001")
    assert [b.invoice_number for b in listed] == ["INV-9", "INV-2", "INV-5"]
    assert await book.booked_against("PO-2026-00002") == []


async def test_an_invoice_without_an_amount_is_not_booked(stores: Stores) -> None:
    invoice = Invoice(supplier="ACME Ltd", invoice_number="INV-1")
    with pytest.raises(UnbookableInvoice):
        await stores("invoice_book").book(BookInvoice(invoice=invoice))
