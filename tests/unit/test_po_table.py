"""`mailroom pos`: totals as money with their currency, every column aligned."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from adapters.outbound.ledger import SqliteLedger
from orchestrator.po_table import po_table
from use_cases.flows import CreatePurchaseOrder, LineItem, PurchaseRequest


def order(key: str, budget: float | None, currency: str = "EUR") -> CreatePurchaseOrder:
    request = PurchaseRequest(
        requester=f"{key}@example.com",
        items=[LineItem(description="laptops", quantity=5)],
        budget=budget,
        currency=currency,
    )
    return CreatePurchaseOrder(po_key=key, thread_id=f"thread-{key}", request=request)


def test_totals_show_their_currency_and_the_columns_line_up(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    for created in (order("bob", 480000), order("erin", 99.5, "usd"), order("x", None)):
        asyncio.run(ledger.create_purchase_order(created))
    header, *lines = po_table(ledger.purchase_orders(), ledger.currencies())
    assert header.split() == ["PO", "CREATED", "REQUESTER", "TOTAL", "ITEMS"]
    assert "EUR 480,000.00" in lines[0] and "USD 99.50" in lines[1] and "480000.0" not in lines[0]
    items_at = header.index("ITEMS")
    assert all(line[items_at:] == "5 x laptops" for line in lines)
    totals = ["EUR 480,000.00", "USD 99.50", "-"]  # right-aligned: they end in one column
    assert all(line[: items_at - 2].endswith(t) for line, t in zip(lines, totals, strict=True))


def test_an_order_kept_before_the_currency_was_shows_the_amount_alone(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:  # the ledger as it was: no currency column
        db.execute(
            "CREATE TABLE purchase_orders (seq INTEGER PRIMARY KEY AUTOINCREMENT, po_key TEXT "
            "NOT NULL UNIQUE, thread_id TEXT NOT NULL, requester TEXT NOT NULL, total REAL, "
            "items TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO purchase_orders (po_key, thread_id, requester, total, items, created_at)"
            " VALUES ('old', 't', 'bob@example.com', 480000.0, '[]', '2026-12-01T10:00:00+00:00')"
        )
    ledger = SqliteLedger(path)
    asyncio.run(ledger.create_purchase_order(order("new", 1200)))
    old, new = po_table(ledger.purchase_orders(), ledger.currencies())[1:]
    assert "  480,000.00  " in old and "EUR" not in old
    assert "EUR 1,200.00" in new
