"""What `mailroom pos` prints: one aligned line per purchase order, its total as money."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.cli_output import visible
from orchestrator.thread_table import GAP, columns, padded
from use_cases.flows import PurchaseOrder
from use_cases.money import format_money

HEADER = ("PO", "CREATED", "REQUESTER", "TOTAL", "ITEMS")


def total(order: PurchaseOrder, currency: str) -> str:
    """ "EUR 480,000.00"; "480,000.00" for an order kept before its currency was; "-" for
    an order without a budget."""
    if order.total is None:
        return "-"
    return format_money(order.total, currency).strip()


def po_table(orders: Sequence[PurchaseOrder], currencies: dict[str, str]) -> list[str]:
    """The orders under a header, every column aligned, the totals to the right."""
    rows = [HEADER] + [
        (
            visible(o.po_number),
            f"{o.created_at:%Y-%m-%d}",
            visible(o.requester),
            total(o, currencies.get(o.po_key, "")),
            visible(", ".join(f"{i.quantity} x {i.description}" for i in o.items)),
        )
        for o in orders
    ]
    widths = [max(columns(row[c]) for row in rows) for c in range(len(HEADER) - 1)]
    total_at = HEADER.index("TOTAL")
    return [
        GAP.join(
            " " * (widths[c] - columns(cell)) + cell if c == total_at else padded(cell, widths[c])
            for c, cell in enumerate(row[:-1])
        )
        + GAP
        + row[-1]
        for row in rows
    ]
