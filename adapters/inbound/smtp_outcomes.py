"""What an SMTP answer says about a mail, for the metrics: outcome, code, named reason.

Labels come from a fixed table of our replies (never from the reply's text, which may carry
a Message-ID or a client's address), so their values stay few."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

OUTCOMES = {"2": "accepted", "4": "deferred", "5": "refused"}
OTHER = "other"


@dataclass(frozen=True)
class Answer:
    outcome: str
    code: str
    reason: str


def classify(reply: str, reasons: Mapping[str, str]) -> Answer:
    """`reply`'s outcome, code and reason: the name of the reply template in `reasons`
    (template → name; the part before a `{field}` is compared) it starts with, the longest
    where several do (one reply's text may begin with another's)."""
    code = reply[:3] if reply[:3].isdigit() else OTHER
    outcome = OUTCOMES.get(reply[:1], OTHER)
    matched = [
        (len(prefix), name)
        for template, name in reasons.items()
        if reply.startswith(prefix := template.split("{", 1)[0])
    ]
    return Answer(outcome, code, max(matched)[1] if matched else OTHER)


def closing(reply: str, closings: Mapping[str, str]) -> Answer:
    """The answer a connection was closed with (a 421 or 554 of ours, its `{hostname}` or
    `{host}` filled in or not): its code and the name of the template it was made from."""
    code = reply[:3] if reply[:3].isdigit() else OTHER
    for template, name in closings.items():
        if _template_pattern(template).fullmatch(reply):
            return Answer(OUTCOMES.get(reply[:1], OTHER), code, name)
    return Answer(OUTCOMES.get(reply[:1], OTHER), code, OTHER)


@functools.cache
def _template_pattern(template: str) -> re.Pattern[str]:
    """`template` with each `{field}` matching the field itself or any text."""
    parts = re.split(r"(\{\w+\})", template)
    return re.compile(
        "".join(f"(?:{re.escape(p)}|.*?)" if p.startswith("{") else re.escape(p) for p in parts)
    )
