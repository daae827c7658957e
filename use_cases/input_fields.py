"""Field rules shared by the flows' input models (`mailroom start FLOW --field k=v`).

What an operator types reaches a thread's subject, its text and the mail sent to the
requester: a control or bidi character there could forge headers or hide text, so it is
refused with the field's name rather than cleaned silently.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

MAX_LINE_CHARS = 200
MAX_TEXT_CHARS = 10_000
ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _unsafe(text: str, allowed: str = "") -> bool:
    return any(
        (unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") and c not in allowed) or c in BIDI
        for c in text
    )


def one_line(text: str) -> str:
    """Stripped, at most MAX_LINE_CHARS, without control or bidi characters."""
    text = text.strip()
    if _unsafe(text):
        raise ValueError("control or bidi characters are not allowed")
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"at most {MAX_LINE_CHARS} characters")
    return text


def free_text(text: str) -> str:
    """Several lines (newlines and tabs kept), no other control or bidi character."""
    text = text.replace("\r\n", "\n").strip()
    if _unsafe(text, allowed="\n\t"):
        raise ValueError("control or bidi characters other than newlines are not allowed")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"at most {MAX_TEXT_CHARS} characters")
    return text


def email_address(text: str) -> str:
    """`name@domain.example`, lower-cased domain; a display name or <> is refused."""
    text = one_line(text)
    if not ADDRESS.match(text):
        raise ValueError(f"{text!r} is not an email address (name@domain.example)")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


OneLine = Annotated[str, AfterValidator(one_line)]
FreeText = Annotated[str, AfterValidator(free_text)]
EmailAddress = Annotated[str, AfterValidator(email_address)]
