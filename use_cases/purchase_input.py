"""What `mailroom start procurement` (or a schedule) gives the procurement flow: a purchase
request typed by an operator instead of read from a mail."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from use_cases.flows import LineItem
from use_cases.input_fields import EmailAddress, FreeText, OneLine, one_line

# "2 x laptop stand", "2x laptop stand", "3 * chair", and the multiplication sign
ITEM = re.compile(r"^\s*(\d+)\s*[x\u00d7*]\s*(\S.*?)\s*$", re.IGNORECASE)


class PurchaseInput(BaseModel):
    """A purchase request: who asks, for what, within which budget."""

    model_config = ConfigDict(extra="forbid")

    requester: EmailAddress
    items: list[LineItem] = Field(min_length=1)
    budget: float | None = Field(default=None, ge=0)
    currency: OneLine = "EUR"
    supplier: OneLine | None = None
    cost_centre: OneLine | None = None
    deadline: OneLine | None = None
    text: FreeText = ""

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        """`"2 x laptop stand"` (or a list of them) → LineItem; LineItems/dicts as they are."""
        values = [value] if isinstance(value, str | dict | LineItem) else value
        if not isinstance(values, list):
            return value
        return [line_item(v) if isinstance(v, str) else v for v in values]

    @field_validator("items")
    @classmethod
    def _printable_items(cls, items: list[LineItem]) -> list[LineItem]:
        """Items given as objects (`--input FILE.json`) obey the same one-line rule as text:
        no control or bidi characters reach the mails they are written into."""
        return [
            item.model_copy(
                update={"description": one_line(item.description), "unit": one_line(item.unit)}
            )
            for item in items
        ]

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ValueError("a three-letter currency code (EUR, USD)")
        return value.upper()

    @property
    def thread_subject(self) -> str:
        return f"Purchase request from {self.requester}"


def line_item(text: str) -> LineItem:
    """`"2 x laptop stand"` → LineItem(quantity=2, description="laptop stand")."""
    found = ITEM.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not 'N x description' (2 x laptop stand)")
    return LineItem(quantity=int(found.group(1)), description=one_line(found.group(2)))
