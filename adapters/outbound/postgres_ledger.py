"""The purchase-order ledger in PostgreSQL, shared by every node (MAILROOM_DATABASE_URL).

Numbers are per year and gapless: "PO-2026-00007" is the seventh order of 2026. The counter
row of the year is taken (row lock) in the same transaction as the order's insert, so two
nodes never give out one number; when the order's key is already there (a retried activity,
on this node or another), the transaction rolls back, counter included, and the first order is
read back: the same key always returns the same order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from psycopg import Rollback
from psycopg.types.json import Jsonb

from adapters.outbound.ledger import PO_NUMBER, spent_by
from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database, database
from use_cases.budgets import BudgetHolder
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseOrder
from use_cases.invoices import RecordedOrder

COLUMNS = "year, seq, po_key, thread_id, requester, total, items, created_at, supplier, currency"
SELECT = f"SELECT {COLUMNS} FROM purchase_orders"
NEXT_NUMBER = (
    "INSERT INTO purchase_order_numbers (year, last_seq) VALUES (%s, 1) ON CONFLICT (year) "
    "DO UPDATE SET last_seq = purchase_order_numbers.last_seq + 1 RETURNING last_seq"
)
INSERT = (
    "INSERT INTO purchase_orders (year, seq, po_key, thread_id, requester, total, items, "
    "created_at, supplier, currency, cost_centre) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (po_key) DO NOTHING RETURNING po_key"
)


class PostgresLedger:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL."""
        self.db = database(target)

    async def create_purchase_order(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        async with self.db.connection_async() as db:
            row = await (
                await db.execute(f"{SELECT} WHERE po_key = %s", (order.po_key,))
            ).fetchone()
            if row is None:
                await self._insert(db, order)
                cursor = await db.execute(f"{SELECT} WHERE po_key = %s", (order.po_key,))
                row = await cursor.fetchone()
        assert row is not None, "an order that was inserted or found is there"
        return _order(row)

    async def _insert(self, db: AsyncConnection, order: CreatePurchaseOrder) -> None:
        request, created = order.request, datetime.now(UTC)
        items = Jsonb([i.model_dump() for i in request.items])
        async with db.transaction() as transaction:
            counter = await (await db.execute(NEXT_NUMBER, (created.year,))).fetchone()
            assert counter is not None
            values = (
                created.year, counter[0], order.po_key, order.thread_id, request.requester,
                request.budget, items, created, request.supplier, request.currency,
                request.cost_centre,
            )  # fmt: skip
            inserted = await (await db.execute(INSERT, values)).fetchone()
            if inserted is None:  # another node was first: give its number back
                raise Rollback(transaction)

    def purchase_orders(self) -> list[PurchaseOrder]:
        with self.db.connection() as db:
            rows = db.execute(f"{SELECT} ORDER BY year, seq").fetchall()
        return [_order(row) for row in rows]

    async def spent_since(self, holder: BudgetHolder, since: datetime) -> float:
        async with self.db.connection_async() as db:
            cursor = await db.execute(
                "SELECT cost_centre, requester, total FROM purchase_orders WHERE created_at >= %s",
                (since,),
            )
            rows = await cursor.fetchall()
        return spent_by(holder, rows)

    def currencies(self) -> dict[str, str]:
        """{po_key: the currency of its total}, as SqliteLedger.currencies."""
        with self.db.connection() as db:
            rows = db.execute("SELECT po_key, currency FROM purchase_orders").fetchall()
        return {str(key): str(currency) for key, currency in rows if currency}

    async def purchase_order(self, po_number: str) -> RecordedOrder | None:
        """The order numbered `po_number`, with its supplier and currency; None if none is."""
        number = PO_NUMBER.fullmatch(po_number.strip())
        if number is None:
            return None
        async with self.db.connection_async() as db:
            cursor = await db.execute(
                f"{SELECT} WHERE year = %s AND seq = %s", (int(number["year"]), int(number["seq"]))
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        supplier, currency = row[8], row[9]
        return RecordedOrder(order=_order(row), supplier=supplier, currency=currency)


def _order(row: tuple[Any, ...]) -> PurchaseOrder:
    year, seq, po_key, thread_id, requester, total, items, created_at = row[:8]
    listed = json.loads(items) if isinstance(items, str) else items
    assert isinstance(listed, list)
    return PurchaseOrder(
        po_number=f"PO-{year}-{seq:05d}",
        po_key=po_key,
        thread_id=thread_id,
        requester=requester,
        total=total,
        created_at=created_at.astimezone(UTC),
        items=[LineItem.model_validate(i) for i in listed],
    )
