"""The fields of a purchase request around its items: budget (read in extraction_budget.py),
deadline, supplier and cost centre, and the spans of a text that name such things rather
than items (dates, money, phone and order numbers, addresses), which the item reader must
not count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adapters.agents.extraction_budget import budget_in
from adapters.agents.extraction_numbers import find_money

MONTH = (
    r"(?:jan(?:uary|uar)?|feb(?:ruary|ruar)?|mar(?:ch)?|märz|maerz|apr(?:il)?|may|mai|"
    r"june?|juni|july?|juli|aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|okt(?:ober)?|"
    r"nov(?:ember)?|dec(?:ember)?|dez(?:ember)?)\.?"
)
WHOLE_MONTH = (
    r"(?:january|januar|february|februar|march|märz|april|june|juni|july|juli|august|"
    r"september|october|oktober|november|december|dezember)"
)
WEEKDAY = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|montag|dienstag|"
    r"mittwoch|donnerstag|freitag|samstag|sonntag)"
)
PERIOD = r"(?:week|month|quarter|year|woche|monats?|quartals?|jahres|KW\s?\d{1,2})"
# "Friday 20 December", "Friday, December 20", "Freitag, 20.12.": the weekday and its date
WEEKDAY_DATE = (
    rf"\b{WEEKDAY},?\s(?:the\s)?(?:\d{{1,2}}(?:st|nd|rd|th|\.)?\s(?:of\s)?{MONTH}(?:\s\d{{4}})?(?!\w)"
    rf"|{MONTH}\s\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s\d{{4}}\b)?|\d{{1,2}}\.\s?\d{{1,2}}\.(?:\d{{2,4}}\b)?)"
)
DATE = re.compile(
    rf"{WEEKDAY_DATE}|\b\d{{4}}-\d{{2}}-\d{{2}}\b"
    rf"|\b\d{{1,2}}\.\s?\d{{1,2}}\.(?:\d{{2,4}}\b)?"
    rf"|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th|\.)?\s(?:of\s)?{MONTH}(?:\s\d{{4}})?(?!\w)"
    rf"|\b{MONTH}\s\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s\d{{4}}\b)?"
    rf"|\b(?:(?:the\s)?end of|ende|anfang|mitte|beginning of|mid-?)\s?(?:the\s|des\s|der\s)?"
    rf"(?:next\s|nächste[nrs]?\s)?(?:{MONTH}|{PERIOD}|Q[1-4])"
    rf"|\b(?:next|this|nächste[nrs]?|kommende[nrs]?|diese[nrs]?)\s(?:{WEEKDAY}|{PERIOD})\b"
    rf"|\b(?:KW|CW|calendar week)\s?\d{{1,2}}\b|\bQ[1-4](?:\s\d{{4}})?\b"
    rf"|\b{WEEKDAY}\b|\b(?:tomorrow|morgen|asap|as soon as possible|schnellstmöglich)\b"
    rf"|\b{WHOLE_MONTH}(?:\s\d{{4}})?(?!\w)",
    re.IGNORECASE,
)
DEADLINE_CUE = re.compile(
    r"\b(?:by|before|until|till|no later than|latest|deadline|due|needed|required|need "
    r"(?:it|them)|delivery|deliver(?:ed)?|bis|spätestens|liefertermin|termin|lieferung|"
    r"geliefert|benötigt|fällig|asap)\b[^\n.;!?]{0,25}$",
    re.IGNORECASE,
)
TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\s?(?:[ap]\.?m\.?|uhr|h)\b|\b\d{1,2}\s?(?:[ap]m|uhr)\b", re.I)
PHONE = re.compile(
    r"(?:\+|\b00)\d[\d /().-]{6,}\d"
    r"|\b(?:tel|phone|fon|mobile?|mobil|handy|fax|call)\b\.?:?\s*[\d /()+.-]{5,}\d",
    re.IGNORECASE,
)
REFERENCE = re.compile(
    r"#\s?\d[\w-]*"
    r"|\b(?:no|nr|number|nummer|ref|reference|referenz|id|ticket|invoice|rechnung|po|order|"
    r"bestellung|angebot|quote|offer)\b\.?\s?(?:#|no\.?|nr\.?|number|nummer|:)\s?[\w-]*\d[\w-]*"
    r"|\b(?:po|ticket|invoice|ref|bestellung|rechnung|room|raum|building|"
    r"gebäude|floor|etage|stock|version|"
    r"macos|gen|generation|series|model|modell|type|typ|step|page|seite|kw|cw|q)\b\.?\s?"
    r"[-#:]?\s?\d[\w-]*",
    re.IGNORECASE,
)
STREET = (
    r"(?i:street|st\.?|road|rd\.?|avenue|ave\.?|lane|straße|strasse|str\.|weg|platz|allee|"
    r"gasse)"
)
# "3 Main Street", "Hauptstraße 5", ", 80331 Munich": where to deliver, never an item.
ADDRESS = re.compile(
    rf"\b\d{{1,5}}[a-z]?\s+(?:[^\W\d_][\w'.-]*\s+){{1,3}}{STREET}(?!\w)"
    rf"|\b[A-ZÄÖÜ][\w-]*(?i:straße|strasse|str\.|weg|platz|allee|gasse)\s?\d{{1,4}}[a-z]?\b"
    rf"|(?<=,)\s*(?:[A-Z]-)?\d{{4,5}}\s+[A-ZÄÖÜ][\w-]+(?:\s[A-ZÄÖÜ][\w-]+)?(?=\s*(?:$|[,.;]))",
    re.MULTILINE,
)
COST_CENTRE = re.compile(
    r"\b(?:cost[ -]?cent(?:re|er)|kostenstelle|kst|cost code)\b\.?\s*"
    r"(?:is\s|ist\s|no\.?\s?|nr\.?\s?|number\s|#|:|-)*\s*(?P<code>[A-Z]{0,4}-?\d[\w-]*\w|\d)"
    r"|\b(?P<cc>CC[- ]?\d{2,}[\w-]*)",
    re.IGNORECASE,
)
SUPPLIER_LABEL = re.compile(
    r"\b(?:preferred supplier|supplier|vendor|lieferant|anbieter|händler|shop|dealer)\b"
    r"\s*(?:\sis|\sist|\swould be|\swäre|:|\s-)\s*(?P<name>[^\n,;(]+)",
    re.IGNORECASE,
)
COMPANY = r"(?:GmbH(?: & Co\. KG)?|AG|KG|SE|UG|e\.K\.|Ltd\.?|LLC|Inc\.?|Corp\.?|plc|Co\.|S\.A\.)"
SUPPLIER_FROM = re.compile(
    rf"\b(?:from|at|via|bei|von|über)\s+(?P<name>[A-ZÄÖÜ][\w&'-]*(?:\s[A-ZÄÖÜ][\w&'.-]*){{0,3}}"
    rf"(?:\s{COMPANY})?)"
)
CURRENCY_NAME = re.compile(
    r"(?:eur|usd|gbp|chf|jpy|sek|nok|dkk|pln|czk|cad|aud|euros?|dollars?|pounds?|franken)\b",
    re.IGNORECASE,
)
ORDER_VERB = re.compile(r"\b(?:order|buy|purchase|get|bestellen|kaufen|ordern|beziehen)\b", re.I)
NAME_STOP = re.compile(
    r"\s(?:please|bitte|and|und|if|falls|for|für|by|bis|until|with|mit|to|zu|or|oder|as|"
    r"because|since|da|weil)\b.*$",
    re.IGNORECASE,
)
ABBREVIATION = re.compile(r"(?:\b(?:inc|ltd|corp|co|e\.k|s\.a)|\b[A-Z])$", re.IGNORECASE)


@dataclass
class Fields:
    budget: float | None = None
    currency: str = "EUR"
    deadline: str | None = None
    supplier: str | None = None
    cost_centre: str | None = None
    doubts: list[str] = field(default_factory=list)


def read_fields(text: str) -> Fields:
    fields = Fields(deadline=deadline_in(text), supplier=supplier_in(text))
    fields.cost_centre = cost_centre_in(text)
    fields.budget, currency, fields.doubts = budget_in(text)
    fields.currency = currency or "EUR"
    return fields


def deadline_in(text: str) -> str | None:
    for match in DATE.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        if DEADLINE_CUE.search(before) or re.search(r"\b(?:for|für)\s$", before, re.I):
            return _date_text(match.group(0))
        if match.group(0).lower() in ("asap", "as soon as possible", "schnellstmöglich"):
            return match.group(0)
    return None


def _date_text(found: str) -> str:
    """ "15 December." → "15 December"; "15.03." keeps its dots (they are the date's)."""
    return found.rstrip(",") if re.search(r"\d\.$", found) else found.rstrip(",.")


def supplier_in(text: str) -> str | None:
    labelled = SUPPLIER_LABEL.search(text)
    if labelled:
        return _name(labelled["name"])
    for found in SUPPLIER_FROM.finditer(text):
        if CURRENCY_NAME.match(found["name"]):
            continue  # "at EUR 25 each" names a price, not a shop
        sentence = text[max(0, found.start() - 60) : found.start()]
        company = re.search(rf"\s{COMPANY}$", found["name"])
        after = text[found.end() : found.end() + 20]
        if (
            company
            or ORDER_VERB.search(sentence.rsplit(".", 1)[-1])
            or ORDER_VERB.match(after.strip())
        ):
            return _name(found["name"])
    return None


def _name(raw: str) -> str | None:
    name = NAME_STOP.sub("", raw.strip())
    company = re.search(rf"\s{COMPANY}(?=\s|$)", name)
    if company:
        return name[: company.end()]
    for dot in re.finditer(r"\.(?=\s|$)", name):
        if not ABBREVIATION.search(name[: dot.start()]):
            name = name[: dot.start()]
            break
    return name.strip(" :-") or None


def cost_centre_in(text: str) -> str | None:
    found = COST_CENTRE.search(text)
    if found is None:
        return None
    return found["code"] or found["cc"]


def not_item_spans(text: str) -> list[tuple[int, int]]:
    """Where the text names dates, times, money, phone, order or cost centre numbers."""
    spans = [(m.start, m.end) for m in find_money(text)]
    for pattern in (DATE, TIME, PHONE, REFERENCE, COST_CENTRE, ADDRESS):
        spans += [match.span() for match in pattern.finditer(text)]
    return spans
