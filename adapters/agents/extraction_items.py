"""Line items from the fresh text of a purchase request: "3 x monitors", "monitors x 3",
"Monitors: 3", "5 boxes of A4 paper", "wir benötigen 10 Stühle", bullets, numbered lists,
"Qty | Item" tables and "Item: … / Quantity: …" forms. A number that measures something
("14 inch", "32 GB RAM", "2 years warranty"), a date, an amount, a phone or an order number
is never a quantity."""

from __future__ import annotations

import re

from adapters.agents.extraction_descriptions import TOKEN, described, description_words
from adapters.agents.extraction_fields import not_item_spans
from adapters.agents.extraction_tables import (
    PARENTHESES,
    Form,
    Items,
    Table,
    add_item,
    form_line,
    strip_marker,
    table_cells,
    table_row,
    unit_of,
)
from adapters.agents.extraction_words import (
    APPROXIMATE,
    FIELD_LABELS,
    NOT_NOUNS,
    NOT_QUANTITY_AFTER,
    NUMBER_WORDS,
    PIECES,
    REFERRING,
    REQUEST_VERB,
    STOP_WORDS,
)
from use_cases.flows import LineItem

QUANTITY = re.compile(
    rf"(?<![\w.,/#+\-:'\"])(?P<qty>\d{{1,5}}|{'|'.join(NUMBER_WORDS)})"
    r"(?:\s?(?:-|\u2013|to|bis)\s?(?P<upper>\d{1,5}))?(?![.,]\d)(?:\s*[x\u00d7*]\s*|\s+|(?=[\"']))",
    re.IGNORECASE,
)
QUANTITY_LAST = re.compile(
    r"^(?P<desc>[^\W\d_][^:|=]{1,60}?)\s*(?:[:=]\s*|\s[x\u00d7]\s?|\s[-\u2013]\s|\(\s*|"
    r"(?P<bare>\s)(?=\d{1,5}\s?[^\W\d_]))"
    r"(?P<qty>\d{1,5})(?![.,]\d)\s*(?P<unit>[^\W\d_]+\.?)?\s*\)?\s*[.;]?$"
)
LABELLED_QUANTITY = re.compile(
    r"(?P<desc>[^\W\d_][\w -]{1,60}?)\s*[,(;]?\s*\b(?:qty|quantity|menge|anzahl|stückzahl)\b\.?"
    r"\s*[:=]?\s*(?P<qty>\d{1,5})(?![\d.,]\d)",
    re.IGNORECASE,
)
VERBS = frozenset("order buy purchase need get require bestellen kaufen brauchen benötigen".split())
DESCRIPTION_WINDOW = 200  # characters after a quantity that may hold its unit and description
# "12 Lindenweg", "4 Baker St": a house number, never a quantity.
STREET_WORD = re.compile(
    r"(?:^|\s)(?:street|st\.?|road|rd\.?|avenue|ave\.?|lane)$|(?:straße|strasse|str\.|weg|"
    r"allee|gasse)$"  # not "platz": "1 Arbeitsplatz" is an item
)
ARTICLE_BEFORE = re.compile(r"\b(?:a|an|ein|eine|einen)\s+(?:new |neue[nr]? )?$", re.IGNORECASE)
PREPOSITIONS = frozenset("for für of von to zu with mit from at in on by an bei".split())


def read_items(text: str) -> Items:
    items, table, form = Items(), Table(), Form()
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = table_cells(line)
        if len(cells) >= 2:
            if not table_row(cells, line, table, items):
                _line(" ; ".join(cells), items)
            continue
        table.columns = {}
        if not form_line(line, form, items):
            _line(line, items)
    return items


def _line(line: str, items: Items) -> None:
    content = strip_marker(line).strip()
    bullet = content != line.strip()
    masked = _mask(content)
    before = len(items.found)
    if not _quantity_last(masked, items) and not _labelled_quantity(masked, items):
        _quantities(masked, items)
    if len(items.found) > before:
        _article_item(masked, items)
        return
    _no_quantity(masked, bullet, items)


def _article_item(masked: str, items: Items) -> None:
    """ "einen Drucker und 5 Toner": the printer has no number, but it is asked for too."""
    asked = REQUEST_VERB.search(masked)
    if asked is None or not ARTICLE_BEFORE.search(masked[: asked.start("what")]):
        return
    what = description_words(list(TOKEN.finditer(asked["what"])))
    if what and what[0][0].lower() not in NOT_NOUNS | FIELD_LABELS:
        items.unquantified.append(" ".join(w[0] for w in what).lower())


def _mask(text: str) -> str:
    """The text with every span that cannot hold an item blanked to a stop."""
    masked = list(PARENTHESES.sub(lambda m: ";" + " " * (len(m.group(0)) - 1), text))
    for start, end in not_item_spans("".join(masked)):
        masked[start:end] = ";" + " " * (end - start - 1)
    return "".join(masked)


def _quantity_last(masked: str, items: Items) -> bool:
    """A whole line "Monitors: 3", "A4 paper x 5 boxes", "Toner (4)"."""
    found = QUANTITY_LAST.match(masked.strip())
    if found is None:
        return False
    words = found["desc"].lower().split()
    unit = unit_of(found["unit"] or "")
    if words[0] in FIELD_LABELS | STOP_WORDS | VERBS or unit is None or int(found["qty"]) == 0:
        return False
    if found["bare"] and (found["unit"] or "").lower() not in PIECES:
        return False  # "Mauspads 10 Stk." yes; "Kindly order 5 boxes" is prose
    description = " ".join(words).strip(" .,;")
    add_item(items, LineItem(description=description, quantity=int(found["qty"]), unit=unit))
    return True


def _labelled_quantity(masked: str, items: Items) -> bool:
    """ "Please order monitors, quantity 5"."""
    found = LABELLED_QUANTITY.search(masked)
    if found is None or int(found["qty"]) == 0:
        return False
    words: list[str] = []
    for word in reversed(found["desc"].lower().split()):
        if word in STOP_WORDS | VERBS or len(words) == 4:
            break
        words.insert(0, word)
    if not words or words[0] in FIELD_LABELS:
        return False
    add_item(items, LineItem(description=" ".join(words), quantity=int(found["qty"])))
    return True


def _quantities(masked: str, items: Items) -> None:
    consumed, first = 0, len(items.found)
    for found in QUANTITY.finditer(masked):
        if found.start() < consumed or _after_not_quantity(masked, found.start()):
            continue
        if _previous_word(masked, found.start()) in ("with", "mit") and len(items.found) > first:
            continue
        read = described(masked[found.end() : found.end() + DESCRIPTION_WINDOW])
        if read is None:
            continue
        unit, description, length = read
        consumed = found.end() + length
        quantity = _count(found["upper"] or found["qty"])
        if quantity == 0 or STREET_WORD.search(description):
            continue
        add_item(items, LineItem(description=description, quantity=quantity, unit=unit))
        _quantity_doubts(masked, found, description, items)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word.lower()]


def _previous_word(masked: str, start: int) -> str:
    words = masked[max(0, start - 40) : start].lower().split()
    return words[-1].strip(".,") if words else ""


def _after_not_quantity(masked: str, start: int) -> bool:
    words = masked[max(0, start - 40) : start].lower().split()[-2:]
    if len(words) == 2 and words[1] in REFERRING and words[0] in PREPOSITIONS:
        return True  # "for the three new starters": who it is for, not what
    return bool(words) and words[-1].strip(".,") in NOT_QUANTITY_AFTER - {"with", "mit"}


def _quantity_doubts(masked: str, found: re.Match[str], description: str, items: Items) -> None:
    words = masked[max(0, found.start() - 40) : found.start()].lower().split()
    if found["upper"]:
        items.doubts.append(
            f"the quantity of '{description}' is a range ({found['qty']}-{found['upper']}); "
            f"took {found['upper']}"
        )
    elif words and words[-1] in APPROXIMATE:
        items.doubts.append(f"the quantity of '{description}' is approximate")


def _no_quantity(masked: str, bullet: bool, items: Items) -> None:
    asked = REQUEST_VERB.search(masked)
    if asked and not re.search(r"\d", masked[asked.start() :]):
        what = description_words(list(TOKEN.finditer(asked["what"])))
        if what and what[0][0].lower() not in NOT_NOUNS | FIELD_LABELS | {"quote", "offer"}:
            name = " ".join(w[0] for w in what).lower()
            items.unquantified.append(name)
            return
    if bullet and re.fullmatch(r"[^\W\d_][\w -]{1,40}", masked.strip().rstrip(".")):
        items.without_quantity.append(masked.strip().rstrip(".").lower())
