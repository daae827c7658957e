"""The budget of a purchase request: the amount called a budget ("budget EUR 600", "max.
600 €", "5.000 € Budget", "Gesamtbudget: 2.000 EUR"), never a price per piece, with the
doubts a reader would have (two budgets, a range, no currency, an absurd amount)."""

from __future__ import annotations

import re

from adapters.agents.extraction_numbers import Money, find_bare_amount, find_money
from use_cases.money import format_money

BUDGET_CUE = re.compile(
    r"\b(?:\w*budget|max(?:imum|\.)?|up to|at most|not (?:to )?exceed|total|limit|cap|höchstens|"
    r"maximal|bis zu|kostenrahmen|rahmen|obergrenze|insgesamt|gesamt|spend|allowance|etat|"
    r"budgetiert|approved)\b[^\n\d€$£]{0,30}$",
    re.IGNORECASE,
)
BUDGET_AFTER = re.compile(
    r"[ \t]*(?:in )?(?:total|\w*budget|max(?:imum)?|insgesamt|gesamt|budgetiert)\b", re.IGNORECASE
)
# "\w*budget": German compounds, "Gesamtbudget", "Projektbudget", "IT-Budget"
BARE_BUDGET = re.compile(r"\b(?:\w*budget|kostenrahmen|etat)\b\s*(?:is|ist|of|von|:|=|-)?\s*", re.I)
UNIT_PRICE_BEFORE = re.compile(r"(?:\bat|\bà|@|\bje)\s*$", re.IGNORECASE)
PIECE_PRICE_BEFORE = re.compile(r"(?:\bà|@|\bje)\s*$", re.IGNORECASE)
UNIT_PRICE_AFTER = re.compile(
    r"^\s*(?:each|apiece|a piece|per\b|/\s?\w|pro\b|je\b|das stück|the piece)", re.IGNORECASE
)
LARGEST_BUDGET = 1e12  # beyond it an "amount" is a typo, a part number or an attack
NUMBER_WORDS_FOR_DOUBTS = ["no", "one", "two", "three", "four", "five"]


def budget_in(text: str) -> tuple[float | None, str | None, list[str]]:
    """The budget, its currency and the doubts about it. Amounts called a budget win
    (the last one: a later line corrects an earlier); an amount per piece is never one."""
    found = find_money(text)
    money = [m for m in found if m.amount <= LARGEST_BUDGET]
    if len(money) < len(found):
        too_large = next(m for m in found if m.amount > LARGEST_BUDGET)
        said = format_money(too_large.amount, too_large.currency or "EUR")
        budget, currency, doubts = budget_in_amounts(text, money)
        return budget, currency, [f"{said} is too large to be a budget", *doubts]
    return budget_in_amounts(text, money)


def budget_in_amounts(text: str, money: list[Money]) -> tuple[float | None, str | None, list[str]]:
    amounts = [m for m in money if not _unit_price(text, m)]
    prices = [m for m in money if _unit_price(text, m)]
    labelled = [m for m in money if _labelled(text, m) and not _per_piece(text, m)]
    if labelled:
        last = labelled[-1]
        return last.amount, last.currency, _disagreement(labelled) + _range_doubt(last)
    bare = _bare_budget(text)
    if bare is not None:
        return bare.amount, None, [f"the budget {bare.amount:,.2f} has no currency; EUR assumed"]
    if len(amounts) == 1:
        only = amounts[0]
        said = format_money(only.amount, only.currency or "EUR")
        return only.amount, only.currency, [f"took {said} as the budget, it was not called one"]
    if prices:
        said = format_money(prices[0].amount, prices[0].currency or "EUR")
        return None, None, [f"only a price per piece ({said}), no budget"]
    if amounts:
        said = " and ".join(format_money(m.amount, m.currency or "EUR") for m in amounts[:3])
        return None, None, [f"several amounts ({said}) but none called the budget"]
    return None, None, []


def _labelled(text: str, money: Money) -> bool:
    """ "budget EUR 600", "max. 600 €"; or "EUR 600 total", "5.000 € Budget"."""
    before = text[max(0, money.start - 40) : money.start]
    return bool(BUDGET_CUE.search(before) or BUDGET_AFTER.match(text[money.end : money.end + 20]))


def _per_piece(text: str, money: Money) -> bool:
    """ "EUR 30 each", "je 30 EUR", "@ 30 €"; not "budget unchanged at EUR 450"."""
    before = text[max(0, money.start - 8) : money.start]
    return bool(UNIT_PRICE_AFTER.match(text[money.end :]) or PIECE_PRICE_BEFORE.search(before))


def _range_doubt(money: Money) -> list[str]:
    if money.lowest is None:
        return []
    low, high = (format_money(a, money.currency or "EUR") for a in (money.lowest, money.amount))
    return [f"the budget is a range ({low} to {high}); took {high}"]


def _unit_price(text: str, money: Money) -> bool:
    before = text[max(0, money.start - 8) : money.start]
    return bool(UNIT_PRICE_BEFORE.search(before) or UNIT_PRICE_AFTER.match(text[money.end :]))


def _bare_budget(text: str) -> Money | None:
    for label in BARE_BUDGET.finditer(text):
        found = find_bare_amount(text[label.end() : label.end() + 20])
        if found is not None and found.start == 0 and found.amount <= LARGEST_BUDGET:
            return found
    return None


def _disagreement(labelled: list[Money]) -> list[str]:
    said = list(dict.fromkeys(format_money(m.amount, m.currency or "EUR") for m in labelled))
    if len(said) < 2:
        return []
    count = NUMBER_WORDS_FOR_DOUBTS[len(said)] if len(said) < 6 else str(len(said))
    return [f"{count} different budgets ({' and '.join(said)})"]
