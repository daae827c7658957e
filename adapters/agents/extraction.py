"""Procurement extraction by rules: a purchase request's items, budget, deadline and
supplier from the text of a mail."""

from __future__ import annotations

import re

from use_cases.flows import ExtractRequest, LineItem, PurchaseRequest

NOT_ITEMS = frozenset(
    "gb tb mb kb ghz kg g cm mm m eur usd gbp chf days day weeks week months month hours "
    "hour percent january february march april may june july august september october "
    "november december k".split()
)
CONNECTORS = frozenset("for the and of to with in on by at per from a an".split())
ITEM = re.compile(
    r"\b(\d{1,5})\s*(?:x\s+|pcs\.?\s+|units? of\s+)?([a-z][a-z\-]{2,}(?:\s[a-z][a-z\-]{2,})?)", re.I
)
AMOUNT = r"(\d{1,3}(?:[ ,.]\d{3})+|\d+(?:[.,]\d+)?)\s*(k\b)?"
BUDGET = re.compile(
    rf"(?:budget|max(?:imum)?|up to|total|limit)[^\d\n]{{0,25}}?(eur|usd|gbp|€|\$|£)?\s*{AMOUNT}"
    r"\s*(eur|usd|gbp|€|\$|£)?",
    re.I,
)
DEADLINE = re.compile(r"\b(?:needed by|by|before|until|deadline:?)\s+([^\n.,;]{3,30})", re.I)
SUPPLIER = re.compile(r"\bsupplier[:\s]+([^\n,.;]{2,40})", re.I)
CURRENCY = {"€": "EUR", "$": "USD", "£": "GBP"}


def extract_purchase_request(request: ExtractRequest) -> PurchaseRequest:
    text = f"{request.subject}\n{request.text}"
    budget, currency = extract_budget(text)
    return PurchaseRequest(
        requester=request.requester,
        items=extract_items(text),
        budget=budget,
        currency=currency,
        deadline=_first(DEADLINE, text),
        supplier=_first(SUPPLIER, text),
        text=request.text[:4000],
    )


def extract_items(text: str) -> list[LineItem]:
    items: dict[str, int] = {}
    for quantity, description in ITEM.findall(text):
        first = description.split()[0].lower()
        if first in NOT_ITEMS:
            continue
        parts = description.split()
        if parts[-1].lower() in NOT_ITEMS | CONNECTORS:
            parts = parts[:1]
        items.setdefault(" ".join(parts).lower(), int(quantity))
    return [LineItem(description=d, quantity=q) for d, q in items.items() if q > 0]


def extract_budget(text: str) -> tuple[float | None, str]:
    found = BUDGET.search(text)
    if not found:
        return None, "EUR"
    before, amount, thousands, after = found.groups()
    digits = re.sub(r"[ ,.](?=\d{3}\b)", "", amount).replace(",", ".")
    value = float(digits) * (1000 if thousands else 1)
    symbol = (before or after or "EUR").upper()
    return value, CURRENCY.get(symbol, symbol)


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1).strip() if found else None
