"""The invoice book in PostgreSQL, shared by every node (MAILROOM_DATABASE_URL): one row per
invoice key, as SqliteInvoiceBook; booking again, on any node, returns the first booking."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.outbound.invoice_book import UnbookableInvoice, booking
from adapters.outbound.postgres_pool import Database, database
from use_cases.invoices import BookedInvoice, BookInvoice, key_of

SELECT = (
    "SELECT invoice_key, supplier, invoice_number, amount, currency, po_number, approved_by, "
    "booked_at FROM invoices"
)
INSERT = (
    "INSERT INTO invoices (invoice_key, supplier, invoice_number, amount, currency, po_number, "
    "approved_by, booked_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (invoice_key) DO NOTHING"
)


class PostgresInvoiceBook:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL."""
        self.db = database(target)

    async def booked(self, invoice_key: str) -> BookedInvoice | None:
        """The booking under this key, or None if the invoice was never booked."""
        async with self.db.connection_async() as db:
            cursor = await db.execute(f"{SELECT} WHERE invoice_key = %s", (invoice_key,))
            row = await cursor.fetchone()
        return None if row is None else booking(row)

    async def booked_against(self, po_number: str) -> list[BookedInvoice]:
        async with self.db.connection_async() as db:
            query = f"{SELECT} WHERE po_number = %s ORDER BY seq"
            rows = await (await db.execute(query, (po_number,))).fetchall()
        return [booking(row) for row in rows]

    async def book(self, entry: BookInvoice) -> BookedInvoice:
        """Idempotent by the invoice's key: booking it again returns the first booking."""
        invoice, key = entry.invoice, key_of(entry.invoice)
        if key is None or invoice.amount is None:
            raise UnbookableInvoice(f"cannot book an invoice without {invoice.missing}")
        values = (
            key, invoice.supplier, invoice.invoice_number, invoice.amount,
            invoice.currency.upper(), entry.po_number, entry.approved_by, datetime.now(UTC),
        )  # fmt: skip
        async with self.db.connection_async() as db:
            # ON CONFLICT DO NOTHING + read back: a retry, here or on another node, finds the
            # row the first booking wrote.
            await db.execute(INSERT, values)
            row = await (await db.execute(f"{SELECT} WHERE invoice_key = %s", (key,))).fetchone()
        assert row is not None, "a booking that was inserted or found is there"
        return booking(row)
