"""The amount an invoice asks for: the line labelled as what is due, in English, German or
French, its number in any of "1,234.50", "1.234,50", "1 234,50", and its currency."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from adapters.agents.extraction_numbers import NUMBER, find_money, parse_number

# Labels of the amount to pay, strongest first: "amount due" beats "grand total" beats
# "total" (an invoice may show several; the one to pay is what is matched).
LABELS = (
    r"amount\s+due|balance\s+due|total\s+due|amount\s+payable|total\s+payable|please\s+pay"
    r"|to\s+pay|zu\s+zahlen|zahlbetrag|offener\s+betrag|rechnungsbetrag|f(ä|ae)lliger\s+betrag"
    r"|net\s+(à|a)\s+payer|montant\s+d(û|u)",
    r"grand\s+total|invoice\s+total|total\s+amount|total\s+incl|gesamtbetrag|endbetrag"
    r"|gesamtsumme|bruttobetrag|brutto|total\s+ttc|montant\s+total|montant\s+ttc",
    r"total|summe|betrag|gesamt|montant|amount",
)
RANKED = [re.compile(rf"(?<!\w)(?:{label})(?!\w)", re.IGNORECASE) for label in LABELS]
# Parts of a total that are not what is paid: before tax, the tax itself.
NOT_DUE = re.compile(
    r"sub-?total|zwischen|netto|\bnet\b(?!\s+(à|a)\s+payer)|excl|exkl|zzgl|\bht\b|before tax"
    r"|vor steuer|^\W*(vat|mwst|ust|tax|tva|steuer)",
    re.IGNORECASE,
)
BARE_NUMBER = re.compile(rf"(?<![\w.,])(?:{NUMBER})(?![\w.,]*\d)")
CURRENCY_MARK = re.compile(r"(?<![a-z])(eur|usd|gbp|chf)(?![a-z])|[€$£]", re.IGNORECASE)
AMOUNT_ALONE = re.compile(rf"(?:[A-Z]{{3}}|[€$£])?\s?(?:{NUMBER})\s?(?:[A-Z]{{3}}|[€$£])?")
SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}


@dataclass(frozen=True)
class Amount:
    value: float
    currency: str | None
    doubts: tuple[str, ...] = ()


def invoice_amount(text: str) -> Amount | None:
    """The amount due, or failing a labelled one the largest amount with a currency
    (with a doubt); None when the text names no amount at all."""
    labelled = _labelled(text.splitlines())
    if labelled is not None:
        return labelled
    amounts = find_money(text)
    if not amounts:
        return None
    largest = max(amounts, key=lambda money: money.amount)
    doubt = "no total was labelled as due; the largest amount was taken"
    return Amount(round(largest.amount, 2), largest.currency, (doubt,))


def _labelled(lines: list[str]) -> Amount | None:
    best: tuple[int, Amount] | None = None
    for index, line in enumerate(lines):
        rank, amount = _ranked_amount(line, lines[index + 1 : index + 2])
        # the last of equal rank wins: a final total is written below the others
        if amount is not None and (best is None or rank <= best[0]):
            best = (rank, amount)
    return best[1] if best else None


def _ranked_amount(line: str, after: list[str]) -> tuple[int, Amount | None]:
    label = re.split(r"\d", line, maxsplit=1)[0]
    if NOT_DUE.search(label):
        return len(RANKED), None
    for rank, pattern in enumerate(RANKED):
        found = pattern.search(label)
        if found is None:
            continue
        amount = _amount_in(line[found.end() :])
        if amount is None and after and _amount_alone(after[0]):  # a table's next cell
            amount = _amount_in(after[0])
        return rank, amount
    return len(RANKED), None


def _amount_alone(line: str) -> bool:
    return AMOUNT_ALONE.fullmatch(line.strip()) is not None


def _amount_in(rest: str) -> Amount | None:
    amounts = find_money(rest)
    if amounts:
        return Amount(round(amounts[-1].amount, 2), amounts[-1].currency)
    numbers = BARE_NUMBER.findall(rest)
    if not numbers:
        return None
    # "1,190.00 (payable within 30 days)": the amount is the number written with cents
    with_cents = [n for n in numbers if re.search(r"[.,]\d{2}$", n)]
    return Amount(round(parse_number((with_cents or numbers)[-1]), 2), None)


def document_currency(text: str) -> str | None:
    """The currency the text names most often, None if it names none."""
    marks = [SYMBOLS.get(m.group(0), m.group(0).upper()) for m in CURRENCY_MARK.finditer(text)]
    return Counter(marks).most_common(1)[0][0] if marks else None
