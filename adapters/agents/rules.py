"""The default agent: deterministic rules, regular expressions and a knowledge base file.

It needs no network and no model, so the whole service works offline; an LLM-backed agent
implements the same `Agent` port.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from use_cases.flows import (
    Classification,
    ClassifyRequest,
    ExtractRequest,
    FlowName,
    KbAnswer,
    LineItem,
    PurchaseRequest,
    Triage,
    flow_by_mailbox,
)

DEFAULT_KB = Path(__file__).with_name("knowledge_base.toml")
WORD = re.compile(r"[a-zà-ÿ]+", re.I)
PROCUREMENT_WORDS = frozenset(
    "rfq quote quotation purchase order buy procure procurement budget supplier vendor".split()
)
SUPPORT_WORDS = frozenset(
    "help problem error broken issue crash fails failed failing bug fire support password "
    "invoice refund".split()
)
URGENT_WORDS = frozenset("urgent asap immediately fire outage down emergency critical".split())
CATEGORIES = {
    "billing": frozenset("invoice bill billing payment refund rechnung charge".split()),
    "account": frozenset("password login account reset locked".split()),
    "technical": frozenset("error broken crash fire printer bug fails failing".split()),
}
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


class Article(BaseModel):
    id: str
    keywords: list[str]
    answer: str


def load_knowledge_base(path: Path = DEFAULT_KB) -> list[Article]:
    with open(path, "rb") as source:
        data = tomllib.load(source)
    return [Article.model_validate(a) for a in data.get("article", [])]


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


class RuleBasedAgent:
    def __init__(self, articles: list[Article] | None = None) -> None:
        self.articles = load_knowledge_base() if articles is None else articles

    async def classify(self, request: ClassifyRequest) -> Classification:
        by_mailbox = flow_by_mailbox(request.mailbox)
        if by_mailbox is not None:
            return Classification(flow=by_mailbox, confidence=0.9, reason="mailbox")
        seen = words(f"{request.subject} {request.text}")
        buying, helping = len(seen & PROCUREMENT_WORDS), len(seen & SUPPORT_WORDS)
        if buying > helping:
            return Classification(flow=FlowName.PROCUREMENT, confidence=0.6, reason="content")
        if helping > buying:
            return Classification(flow=FlowName.SUPPORT, confidence=0.6, reason="content")
        return Classification(flow=FlowName.OTHER, confidence=0.5, reason="no signal")

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        text = f"{request.subject}\n{request.text}"
        return PurchaseRequest(
            requester=request.requester,
            items=extract_items(text),
            budget=extract_budget(text)[0],
            currency=extract_budget(text)[1],
            deadline=_first(DEADLINE, text),
            supplier=_first(SUPPLIER, text),
            text=request.text[:4000],
        )

    async def triage(self, request: ClassifyRequest) -> Triage:
        seen = words(f"{request.subject} {request.text}")
        category = max(CATEGORIES, key=lambda c: len(seen & CATEGORIES[c]))
        if not seen & CATEGORIES[category]:
            category = "general"
        return Triage(category=category, priority="high" if seen & URGENT_WORDS else "normal")

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        seen = words(f"{request.subject} {request.text}")
        best, score = None, 0.0
        for article in self.articles:
            keys = {k.lower() for k in article.keywords}
            matched = len(seen & keys) / len(keys) if keys else 0.0
            if matched > score:
                best, score = article, matched
        if best is None:
            return KbAnswer()
        return KbAnswer(answer=best.answer, confidence=round(score, 2), article=best.id)


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
