"""The purchase-order ledger: SQLite in the data dir, one row per PO key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseOrder

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
CURRENCY_COLUMN = "ALTER TABLE purchase_orders ADD COLUMN currency TEXT"


class SqliteLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(SCHEMA)
        known = {row[1] for row in db.execute("PRAGMA table_info(purchase_orders)")}
        if "currency" not in known:
            with contextlib.suppress(sqlite3.OperationalError):  # another process was first
                db.execute(CURRENCY_COLUMN)
        return db

    async def create_purchase_order(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        return await asyncio.to_thread(self._create, order)

    def _create(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        request = order.request
        items = json.dumps([i.model_dump() for i in request.items])
        with self._connect() as db:
            # INSERT OR IGNORE + read back: a retried activity finds the row it wrote before.
            db.execute(
                "INSERT OR IGNORE INTO purchase_orders "
                "(po_key, thread_id, requester, total, items, created_at, currency) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    order.po_key,
                    order.thread_id,
                    request.requester,
                    request.budget,
                    items,
                    datetime.now(UTC).isoformat(),
                    request.currency,
                ),
            )
            row = db.execute(f"{SELECT} WHERE po_key = ?", (order.po_key,)).fetchone()
        return _order(row)

    def purchase_orders(self) -> list[PurchaseOrder]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            return [_order(row) for row in db.execute(f"{SELECT} ORDER BY seq")]

    def currencies(self) -> dict[str, str]:
        """{po_key: the currency of its total}; an order from before it was kept is left out
        (the PurchaseOrder model has no currency: workflows replay with it as it is)."""
        if not self.path.exists():
            return {}
        with self._connect() as db:
            rows = db.execute("SELECT po_key, currency FROM purchase_orders")
            return {po_key: currency for po_key, currency in rows if currency}


SELECT = "SELECT seq, po_key, thread_id, requester, total, items, created_at FROM purchase_orders"


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
