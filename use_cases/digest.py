"""The daily digest: open and escalated threads, as one plain-text mail to an operator.

Pure: the rows come from the thread listing (activities/digest.py), the text is made here
from them and a time, so the workflow can make it (deterministically) and tests can read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from use_cases.models import ThreadState

# The stage a thread waits in for a person (support's escalation, workflows/support.py).
ESCALATED = "escalated"
# What never reaches the mail's text from a subject: C0/C1 controls, DEL, line and paragraph
# separators, bidi marks, embeddings, overrides and isolates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
MAX_SUBJECT = 80
MAX_ROWS = 200  # a digest is read, not searched: the rest is counted, not listed


class DigestInput(BaseModel):
    """Who gets the digest: `--field to=a@example.com,b@example.com`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: tuple[str, ...] = Field(min_length=1)

    @field_validator("to", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            local, at, domain = address.rpartition("@")
            if not at or not local or "." not in domain or UNSAFE.search(address) or " " in address:
                raise ValueError(f"{address!r} is not an email address")
        return tuple(address.lower() for address in value)


class DigestRow(BaseModel):
    """One open thread as the digest lists it."""

    reference: str
    opened_at: datetime | None
    flow: str
    stage: str
    subject: str

    @property
    def escalated(self) -> bool:
        return self.stage == ESCALATED


class DigestFacts(BaseModel):
    """What the gathering activity found: the open threads, and who the digest is from."""

    sender: str
    rows: list[DigestRow] = Field(default_factory=list)


class DigestResult(BaseModel):
    message_id: str
    open_threads: int
    escalated: int


def digest_row(state: ThreadState) -> DigestRow:
    opened = state.messages[0].received_at if state.messages else state.last_activity
    return DigestRow(
        reference=f"#{state.reference}" if state.reference else state.thread_id[:12],
        opened_at=opened,
        flow=state.flow or "",
        stage=state.stage or "",
        subject=state.subject,
    )


def clean(text: str, limit: int = MAX_SUBJECT) -> str:
    """`text` on one line, without control characters, at most `limit` characters."""
    flat = " ".join(UNSAFE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def age(since: datetime | None, now: datetime) -> str:
    """`3d 4h`, `5h`, `12m`; `-` when unknown."""
    if since is None:
        return "-"
    elapsed = max(now - since, timedelta(0))
    days, hours = elapsed.days, elapsed.seconds // 3600
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h" if hours else f"{elapsed.seconds // 60}m"


def digest_subject(rows: Sequence[DigestRow]) -> str:
    escalated = sum(row.escalated for row in rows)
    return f"mailroom digest: {len(rows)} open, {escalated} escalated"


def digest_text(rows: Sequence[DigestRow], now: datetime) -> str:
    """The digest: escalated threads first, then the other open ones, oldest first."""
    escalated = [row for row in rows if row.escalated]
    others = [row for row in rows if not row.escalated]
    lines = [f"Threads at {now:%Y-%m-%d %H:%M} UTC: {len(rows)} open, {len(escalated)} escalated."]
    for title, chosen in (("Escalated (waiting for a person)", escalated), ("Open", others)):
        lines += ["", f"{title}: {len(chosen)}"]
        lines += list(_table(_oldest_first(chosen), now))
    return "\n".join(lines) + "\n"


def _oldest_first(rows: Iterable[DigestRow]) -> list[DigestRow]:
    return sorted(rows, key=lambda row: (row.opened_at is None, row.opened_at or datetime.min))


def _table(rows: Sequence[DigestRow], now: datetime) -> Iterable[str]:
    for row in rows[:MAX_ROWS]:
        reference, since = clean(row.reference, 16), age(row.opened_at, now)
        flow, stage = clean(row.flow, 16) or "-", clean(row.stage, 24) or "-"
        yield f"  {reference:<10} {since:>7}  {flow:<12} {stage:<20} {clean(row.subject)}"
    if len(rows) > MAX_ROWS:
        yield f"  … and {len(rows) - MAX_ROWS} more (`mailroom threads` lists them all)"
