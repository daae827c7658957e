"""Tables ("Qty | Item | Price", tab separated), forms ("Item: …" / "Quantity: …") and the
list of items read so far, shared by the item reader."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adapters.agents.extraction_words import (
    ITEM_LABELS,
    PIECES,
    QUANTITY_LABELS,
    UNIT_LABELS,
    UNITS,
)
from use_cases.flows import LineItem

TABLE_SEPARATOR = re.compile(r"^[\s|:+=-]+$")
PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
LIST_MARKER = re.compile(r"^\s*(?:[-*•·\u2013+]|\d{1,2}[.)](?=\s)|[a-z][.)](?=\s)|\[\s?\])\s*")


@dataclass
class Items:
    found: list[LineItem] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    # Asked for without a number: "we need new monitors" (unquantified), a bullet "- USB hub"
    # (without_quantity, a doubt only when the mail names no item at all).
    unquantified: list[str] = field(default_factory=list)
    without_quantity: list[str] = field(default_factory=list)


@dataclass
class Table:
    columns: dict[str, int] = field(default_factory=dict)


@dataclass
class Form:
    description: str | None = None
    quantity: tuple[int, str] | None = None


def table_cells(line: str) -> list[str]:
    if "|" not in line and "\t" not in line:
        return []
    cells = [c.strip() for c in re.split(r"[|\t]", line)]
    return [c for c in cells if c] if len([c for c in cells if c]) >= 2 else []


def table_row(cells: list[str], line: str, table: Table, items: Items) -> bool:
    """Reads one row of a table; False when it is no row the table's columns explain."""
    if TABLE_SEPARATOR.match(line):
        return True
    header = _header(cells)
    if header:
        table.columns = header
        return True
    columns = table.columns or _guess_columns(cells)
    if "qty" not in columns or "item" not in columns or max(columns.values()) >= len(cells):
        return False
    quantity = quantity_cell(cells[columns["qty"]])
    description = description_cell(cells[columns["item"]])
    if quantity is None or not description:
        items.doubts.append(f"a line looked like an item but could not be read: '{line.strip()}'")
        return True
    unit = quantity[1]
    if "unit" in columns:
        unit = unit_of(cells[columns["unit"]]) or unit
    add_item(items, LineItem(description=description, quantity=quantity[0], unit=unit))
    return True


def _header(cells: list[str]) -> dict[str, int]:
    names = [c.lower().strip(" :*") for c in cells]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in QUANTITY_LABELS:
            columns.setdefault("qty", index)
        elif name in ITEM_LABELS:
            columns.setdefault("item", index)
        elif name in UNIT_LABELS:
            columns.setdefault("unit", index)
    return columns if {"qty", "item"} <= columns.keys() else {}


def _guess_columns(cells: list[str]) -> dict[str, int]:
    """A table without a header: a cell that is only a count, and the first with words."""
    counts = [i for i, c in enumerate(cells) if quantity_cell(c) is not None]
    words = [i for i, c in enumerate(cells) if re.match(r"[^\W\d_]", c) and i not in counts]
    if len(counts) != 1 or not words:
        return {}
    return {"qty": counts[0], "item": words[0]}


def quantity_cell(cell: str) -> tuple[int, str] | None:
    found = re.fullmatch(r"(\d{1,5})\s*(?:x|\u00d7)?\s*([^\W\d_]+\.?)?", cell.strip())
    if found is None or int(found[1]) == 0:
        return None
    unit = unit_of(found[2] or "")
    if found[2] and unit is None:
        return None
    return int(found[1]), unit or ""


def unit_of(word: str) -> str | None:
    """The canonical unit of a word; "" for pieces; None when it is no unit."""
    word = word.lower().strip()
    if not word or word in PIECES:
        return ""
    return UNITS.get(word) or UNITS.get(word.rstrip("."))


def description_cell(cell: str) -> str:
    return " ".join(PARENTHESES.sub(" ", cell).lower().split()).strip(" .,;:-")


def strip_marker(line: str) -> str:
    content = LIST_MARKER.sub("", line, count=1)
    return content if content.strip() else line


def form_line(line: str, form: Form, items: Items) -> bool:
    """An "Item: Office chair" line then a "Quantity: 10" one (either order) make one item."""
    label, colon, value = strip_marker(line).partition(":")
    label = label.strip().lower()
    if not colon or not value.strip():
        return False
    if label in ITEM_LABELS:
        form.description = description_cell(value)
    elif label in QUANTITY_LABELS and (quantity := quantity_cell(value)) is not None:
        form.quantity = quantity
    else:
        return False
    if form.description and form.quantity:
        count, unit = form.quantity
        add_item(items, LineItem(description=form.description, quantity=count, unit=unit))
        form.description, form.quantity = None, None
    return True


def add_item(items: Items, item: LineItem) -> None:
    for index, known in enumerate(items.found):
        if (known.description, known.unit) == (item.description, item.unit):
            if known.quantity != item.quantity:  # "make that 6": the later one corrects
                items.doubts.append(
                    f"'{item.description}' is asked for with different quantities "
                    f"({known.quantity} and {item.quantity}); took {item.quantity}"
                )
                items.found[index] = item
            return
    items.found.append(item)
