"""The purchase-order ledger: SQLite in the data dir, one row per PO key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from use_cases.budgets import BudgetHolder
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseOrder
from use_cases.invoices import RecordedOrder

SCHEMA = """
CREATE TABLE IF NOT EXISTS purchase_orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    po_key TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL,
    requester TEXT NOT NULL,
    total REAL,
    items TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""
# Added later: the currency of the request's budget (NULL in a row from before).
# Added later still: the supplier the request named, for matching its invoices; the cost
# centre, whose budget the order spent (NULL in an older row: it spent its requester's).
ADDED_COLUMNS = {
    "currency": "ALTER TABLE purchase_orders ADD COLUMN currency TEXT",
    "supplier": "ALTER TABLE purchase_orders ADD COLUMN supplier TEXT",
    "cost_centre": "ALTER TABLE purchase_orders ADD COLUMN cost_centre TEXT",
}
# The number `_order` gives a row: "PO-2026-00001" is the row of seq 1, created in 2026
# (also as an agent may write it: "PO-2026-1", "po 2026/1").
PO_NUMBER = re.compile(r"PO[\s_#:.-]*(?P<year>\d{4})[\s/-]*(?P<seq>\d{1,9})", re.IGNORECASE)


class SqliteLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(SCHEMA)
        known = {row[1] for row in db.execute("PRAGMA table_info(purchase_orders)")}
        for column, alter in ADDED_COLUMNS.items():
            if column not in known:
                with contextlib.suppress(sqlite3.OperationalError):  # another process was first
                    db.execute(alter)
        return db

    async def create_purchase_order(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        return await asyncio.to_thread(self._create, order)

    def _create(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        request = order.request
        items = json.dumps([i.model_dump() for i in request.items])
        with self._connect() as db:
            # A retry reads its row without an INSERT: an ignored INSERT still spends an
            # AUTOINCREMENT number, and PO numbers should have no gaps.
            row = db.execute(f"{SELECT} WHERE po_key = ?", (order.po_key,)).fetchone()
            if row is not None:
                return _order(row)
            # INSERT OR IGNORE + read back: of two processes racing on one key, both return
            # the row the first wrote.
            db.execute(
                "INSERT OR IGNORE INTO purchase_orders "
                "(po_key, thread_id, requester, total, items, created_at, currency, supplier, "
                "cost_centre) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    order.po_key,
                    order.thread_id,
                    request.requester,
                    request.budget,
                    items,
                    datetime.now(UTC).isoformat(),
                    request.currency,
                    request.supplier,
                    request.cost_centre,
                ),
            )
            row = db.execute(f"{SELECT} WHERE po_key = ?", (order.po_key,)).fetchone()
        return _order(row)

    def purchase_orders(self) -> list[PurchaseOrder]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            return [_order(row) for row in db.execute(f"{SELECT} ORDER BY seq")]

    async def spent_since(self, holder: BudgetHolder, since: datetime) -> float:
        return await asyncio.to_thread(self._spent_since, holder, since)

    def _spent_since(self, holder: BudgetHolder, since: datetime) -> float:
        if not self.path.exists():
            return 0.0
        with self._connect() as db:
            # created_at is an ISO time in UTC: as text it sorts as the time does
            rows = db.execute(
                "SELECT cost_centre, requester, total FROM purchase_orders WHERE created_at >= ?",
                (since.astimezone(UTC).isoformat(),),
            ).fetchall()
        return spent_by(holder, rows)

    def currencies(self) -> dict[str, str]:
        """{po_key: the currency of its total}; an order from before it was kept is left out
        (the PurchaseOrder model has no currency: workflows replay with it as it is)."""
        if not self.path.exists():
            return {}
        with self._connect() as db:
            rows = db.execute("SELECT po_key, currency FROM purchase_orders")
            return {po_key: currency for po_key, currency in rows if currency}

    async def purchase_order(self, po_number: str) -> RecordedOrder | None:
        """The order numbered `po_number`, with its supplier and currency; None if none is."""
        return await asyncio.to_thread(self._recorded, po_number)

    def _recorded(self, po_number: str) -> RecordedOrder | None:
        number = PO_NUMBER.fullmatch(po_number.strip())
        if number is None or not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute(
                f"{SELECT_COLUMNS}, supplier, currency FROM purchase_orders WHERE seq = ?",
                (int(number["seq"]),),
            ).fetchone()
        if row is None:
            return None
        order = _order(row[:7])
        if order.created_at.year != int(number["year"]):
            return None
        return RecordedOrder(order=order, supplier=row[7], currency=row[8])


def spent_by(holder: BudgetHolder, rows: Iterable[Sequence[Any]]) -> float:
    """The sum of the totals of (cost_centre, requester, total) rows out of `holder`'s budget;
    matched here, not in SQL, so that both backends fold spellings alike."""
    totals = (Decimal(str(total)) for cc, who, total in rows if total and holder.spends(cc, who))
    return float(sum(totals, Decimal(0)))


SELECT_COLUMNS = "SELECT seq, po_key, thread_id, requester, total, items, created_at"
SELECT = f"{SELECT_COLUMNS} FROM purchase_orders"


def _order(row: tuple[int, str, str, str, float | None, str, str]) -> PurchaseOrder:
    seq, po_key, thread_id, requester, total, items, created_at = row
    created = datetime.fromisoformat(created_at)
    return PurchaseOrder(
        po_number=f"PO-{created.year}-{seq:05d}",
        po_key=po_key,
        thread_id=thread_id,
        requester=requester,
        total=total,
        created_at=created,
        items=[LineItem.model_validate(i) for i in json.loads(items)],
    )
