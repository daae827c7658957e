"""The invoice book: the supplier invoices booked, in the ledger's SQLite file beside the
purchase orders, one row per invoice key (normalised supplier + invoice number)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from use_cases.invoices import BookedInvoice, BookInvoice, key_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS invoices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_key TEXT NOT NULL UNIQUE,
    supplier TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    amount REAL NOT NULL,
    currency TEXT NOT NULL,
    po_number TEXT,
    approved_by TEXT,
    booked_at TEXT NOT NULL
)
"""
SELECT = (
    "SELECT invoice_key, supplier, invoice_number, amount, currency, po_number, approved_by, "
    "booked_at FROM invoices WHERE invoice_key = ?"
)


class UnbookableInvoice(ValueError):
    """An invoice without a supplier, number or amount: it has no key to be booked under."""


class SqliteInvoiceBook:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(SCHEMA)
        return db

    async def booked(self, invoice_key: str) -> BookedInvoice | None:
        """The booking under this key, or None if the invoice was never booked."""
        return await asyncio.to_thread(self._booked, invoice_key)

    def _booked(self, invoice_key: str) -> BookedInvoice | None:
        if not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute(SELECT, (invoice_key,)).fetchone()
        return None if row is None else booking(row)

    async def booked_against(self, po_number: str) -> list[BookedInvoice]:
        return await asyncio.to_thread(self._booked_against, po_number)

    def _booked_against(self, po_number: str) -> list[BookedInvoice]:
        if not self.path.exists():
            return []
        query = SELECT.replace("WHERE invoice_key = ?", "WHERE po_number = ? ORDER BY seq")
        with self._connect() as db:
            return [booking(row) for row in db.execute(query, (po_number,)).fetchall()]

    async def book(self, entry: BookInvoice) -> BookedInvoice:
        """Idempotent by the invoice's key: booking it again returns the first booking."""
        return await asyncio.to_thread(self._book, entry)

    def _book(self, entry: BookInvoice) -> BookedInvoice:
        invoice, key = entry.invoice, key_of(entry.invoice)
        if key is None or invoice.amount is None:
            raise UnbookableInvoice(f"cannot book an invoice without {invoice.missing}")
        with self._connect() as db:
            # INSERT OR IGNORE + read back: a retried activity finds the row it wrote before.
            db.execute(
                "INSERT OR IGNORE INTO invoices (invoice_key, supplier, invoice_number, amount,"
                " currency, po_number, approved_by, booked_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    key,
                    invoice.supplier,
                    invoice.invoice_number,
                    invoice.amount,
                    invoice.currency.upper(),
                    entry.po_number,
                    entry.approved_by,
                    datetime.now(UTC).isoformat(),
                ),
            )
            row = db.execute(SELECT, (key,)).fetchone()
        return booking(row)


def booking(row: Sequence[Any]) -> BookedInvoice:
    """A row of either backend's `invoices` table (its time as ISO text or a datetime)."""
    key, supplier, number, amount, currency, po_number, approved_by, booked_at = row
    at = booked_at if isinstance(booked_at, datetime) else datetime.fromisoformat(booked_at)
    return BookedInvoice(
        invoice_key=key,
        supplier=supplier,
        invoice_number=number,
        amount=amount,
        currency=currency,
        po_number=po_number,
        approved_by=approved_by,
        booked_at=at.astimezone(UTC),
    )
