"""Numbers and money as people write them in mail: "1.200,50", "1,200.50", "30 000 EUR",
"€30,000", "EUR 30k", "USD 2.5k", "5.000,- €"."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A number with optional thousands groups (".", ",", space, narrow space, apostrophe) and an
# optional decimal part; "k"/"Tsd." and "m"/"Mio." multiply.
NUMBER = r"\d{1,3}(?:[.,' \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
MULTIPLIER = r"(?:\s?(?:k|tsd\.?|m|mio\.?|million|mn)\b)?"
CURRENCY_WORDS = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "pounds": "GBP",
    "chf": "CHF",
    "sfr.": "CHF",
}
CURRENCY = (
    r"(?:us\$|€|\$|£|eur(?:os?)?(?![a-z])|usd(?![a-z])|dollars?\b|gbp(?![a-z])|pounds\b|"
    r"chf(?![a-z])|sfr\.)"
)
AMOUNT = rf"(?P<number>{NUMBER})(?![\d.,]*e[+-]?\d)(?P<multiplier>{MULTIPLIER})(?:,-+)?"
MONEY = re.compile(
    rf"(?:(?P<before>{CURRENCY})\s?|(?<![\w.,])){AMOUNT}"
    rf"(?P<range>(?:\s?[-\u2013]\s?|\s(?:to|bis)\s)(?:{CURRENCY}\s?)?"
    rf"(?P<upper>{NUMBER})(?P<upper_multiplier>{MULTIPLIER}))?"
    rf"(?:\s?(?P<after>{CURRENCY}))?",
    re.IGNORECASE,
)
BARE_AMOUNT = re.compile(rf"(?<![\w.,]){AMOUNT}(?![\w.,]*\d)", re.IGNORECASE)


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str | None  # None: written without one
    start: int
    end: int
    lowest: float | None = None  # "EUR 500-700": 500 (amount is 700)


def parse_number(text: str) -> float:
    """ "1.200,50" and "1,200.50" → 1200.5; "30.000" → 30000; "2,5" → 2.5; "30 000" → 30000.
    A separator followed by exactly three digits groups thousands; otherwise it is the
    decimal mark (the one convention both English and German mail agree on)."""
    compact = re.sub(r"[' \u00a0\u202f]", "", text.strip())
    marks = [c for c in compact if c in ".,"]
    if not marks:
        return float(compact)
    last = max(compact.rfind("."), compact.rfind(","))
    decimals = compact[last + 1 :]
    grouped = len(set(marks)) == 1 and (len(marks) > 1 or len(decimals) == 3)
    if grouped:
        return float(re.sub(r"[.,]", "", compact))
    return float(re.sub(r"[.,]", "", compact[:last]) + "." + decimals)


def multiplied(number: str, multiplier: str) -> float:
    value = parse_number(number)
    word = multiplier.strip().lower().rstrip(".")
    if word in ("k", "tsd"):
        return value * 1_000
    if word in ("m", "mio", "million", "mn"):
        return value * 1_000_000
    return value


def find_money(text: str) -> list[Money]:
    """Every amount written with a currency, in order."""
    found = []
    for match in MONEY.finditer(text):
        symbol = match["before"] or match["after"]
        if not symbol:
            continue
        currency = CURRENCY_WORDS[symbol.lower()]
        amount = multiplied(match["number"], match["multiplier"] or "")
        upper = multiplied(match["upper"], match["upper_multiplier"] or "") if match["upper"] else 0
        if upper > amount:
            found.append(Money(upper, currency, match.start(), match.end(), lowest=amount))
        elif match["upper"]:  # "EUR 900 bis 15.03.": a deadline follows, no range
            if match["before"]:
                found.append(Money(amount, currency, match.start(), match.start("range")))
        else:
            found.append(Money(amount, currency, match.start(), match.end()))
    return found


def find_bare_amount(text: str) -> Money | None:
    """The first number in `text` (a budget written without a currency)."""
    match = BARE_AMOUNT.search(text)
    if match is None:
        return None
    amount = multiplied(match["number"], match["multiplier"] or "")
    return Money(amount, None, match.start(), match.end())
