"""What follows a quantity: an optional unit ("boxes of", "Kartons") and a description of
up to five words ("ergonomic keyboards", "google pixel 8", "usb-c to usb-a adapters"), or
nothing when the number measures something ("14 inch", "32 GB", "3 years")."""

from __future__ import annotations

import re

from adapters.agents.extraction_words import (
    MEASURE_UNITS,
    NOT_NOUNS,
    NOT_QUANTITY_AFTER,
    PIECES,
    SPEC_PREFIXES,
    STOP_WORDS,
    UNITS,
)

TOKEN = re.compile(r"\d+(?:[.,]\d+)?(?:\"|''|″|-?inch\b|-?zoll\b)|[\w][\w'&/+.-]*|\S")
SPEC_TOKEN = re.compile(r"\d+(?:[.,]\d+)?(?:\"|''|″|-?inch|-?zoll)$", re.IGNORECASE)
LEADING = frozenset("more additional extra further weitere zusätzliche mehr".split())


def described(rest: str) -> tuple[str, str, int] | None:
    """The unit and description that follow a quantity, and how many characters they take."""
    tokens = list(TOKEN.finditer(rest))
    while len(tokens) > 1 and tokens[0][0].lower() in LEADING:
        tokens = tokens[1:]
    if not tokens or _is_spec(tokens[0][0]):
        return None
    if len(tokens) > 1 and tokens[0][0].lower() in SPEC_PREFIXES and _is_spec(tokens[1][0]):
        return None
    index, unit = 0, ""
    first = tokens[0][0].lower()
    if first in PIECES:
        index = 1
    elif first in UNITS and len(tokens) > 1 and tokens[1][0].lower() not in NOT_NOUNS:
        unit, index = UNITS[first], 1
        if len(tokens) > 1 and tokens[1][0].lower() in ("of", "à", "for", "für", "mit", "von"):
            index = 2
    words = description_words(tokens[index:])
    if not words:
        if not unit or unit in MEASURE_UNITS:
            return None
        words, unit = [tokens[0]], ""
    description = " ".join(w[0] for w in words).lower().rstrip(".")
    return unit, description, words[-1].end()


def _is_spec(token: str) -> bool:
    word = token.lower().rstrip(".")
    return word in NOT_NOUNS or word in STOP_WORDS or token[0] in "\"'″%"


def description_words(tokens: list[re.Match[str]]) -> list[re.Match[str]]:
    words: list[re.Match[str]] = []
    for token in tokens:
        text = token[0]
        lower = text.lower().rstrip(".")
        if len(words) == 5 or (lower in STOP_WORDS and not _joins_names(words, tokens, token)):
            break
        if text[0].isdigit() and not (
            (not words and SPEC_TOKEN.match(text))
            or (words and words[-1][0].lower() in NOT_QUANTITY_AFTER)
            or (words and _model_number(text))
            or (words and _continues_name(words, text))
        ):
            break
        if not (text[0].isalnum()):
            break
        if words and lower in NOT_NOUNS and not text[0].isdigit():
            break
        words.append(token)
        if text.endswith(".") and len(text) > 3 and not re.search(r"\d\.$", text):
            break
    while words and not re.search(r"[^\W\d_]", words[-1][0]) and not _named_number(words):
        if len(words) > 1 and SPEC_TOKEN.match(words[-1][0]):
            break  # 'MacBook Pro 14"': the size names the model
        words.pop()
    return words


def _joins_names(
    words: list[re.Match[str]], tokens: list[re.Match[str]], token: re.Match[str]
) -> bool:
    """ "USB-C to USB-A adapters": "to" between two names in capitals is part of the item."""
    after = [t for t in tokens if t.start() > token.start()][:1]
    capitals = re.compile(r"[A-Z].*[-\d]|[A-Z]{2}")
    return (
        token[0] in ("to", "auf")
        and bool(words)
        and bool(after)
        and bool(capitals.match(words[-1][0]))
        and bool(capitals.match(after[0][0]))
    )


def _named_number(words: list[re.Match[str]]) -> bool:
    """ "Pixel 8", "Office 365": the number is part of the name before it."""
    return len(words) > 1 and words[-2][0].lower() in NOT_QUANTITY_AFTER


def _continues_name(words: list[re.Match[str]], token: str) -> bool:
    """ "Jabra Evolve2 65 headsets", "Cisco Catalyst 9200 switches", 'MacBook Pro 14"': a
    number right after a product's name, with no separator, is its model, not a new item.
    One short number after one capitalised word stays a quantity ("10 Stühle 5 Tische")."""
    before = words[-1][0]
    if re.search(r"[^\W\d_]", before) and re.search(r"\d", before):
        return True
    digits = re.match(r"\d+", token)
    long_number = digits is not None and len(digits[0]) >= 3
    named = len(words) >= 2 and before[0].isupper()
    return named and (long_number or bool(SPEC_TOKEN.match(token)))


def _model_number(token: str) -> bool:
    """ "59A", "4K" are part of a name; "32GB", "2m" measure something."""
    letters = re.sub(r"[\d.,-]", "", token).lower()
    return bool(letters) and letters not in NOT_NOUNS | MEASURE_UNITS | {"x"}
