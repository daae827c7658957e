"""What `mailroom threads` shows of each thread, which threads it keeps, in which order, and
the aligned table it prints. Pure functions over ThreadState, so tested without Temporal."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from orchestrator.cli_output import visible
from use_cases.models import ThreadState, ThreadStatus
from use_cases.tickets import ticket_reference

TABLE_WIDTH = 120
# the widest a column may grow before it is cut, so the subject keeps room in 120 columns:
# REF 7 + STATUS 9 + LAST ACTIVITY 16 + these + 6 gaps of 2 = 99, so at least 21 for it.
# The stage fits every stage the flows name ("awaiting_confirmation", 21); LAST ACTIVITY has
# no seconds: 3 more columns would leave the subject 18.
COLUMN_CAPS = {"flow": 12, "stage": 21, "requester": 22}
MIN_SUBJECT_WIDTH = 21
HEADER = {
    "reference": "REF",
    "status": "STATUS",
    "last_activity": "LAST ACTIVITY",
    "flow": "FLOW",
    "stage": "STAGE",
    "requester": "REQUESTER",
}
GAP = "  "
ELLIPSIS = "…"
WIDE = ("W", "F")  # east-asian wide and full-width characters take two terminal columns


class ThreadView(BaseModel):
    """The public JSON shape of a thread (`mailroom threads --json`, `thread ID --json`)."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    workflow_id: str
    mailbox: str
    status: ThreadStatus
    subject: str
    message_ids: list[str]
    participants: list[str]
    flow: str | None
    stage: str | None
    message_count: int = 0
    reference: str
    requester: str
    last_activity: datetime | None
    human_replies: int = 0
    agent_tokens: int = 0  # tokens the thread's agent calls used (an LLM agent; 0 offline)

    @classmethod
    def of(cls, state: ThreadState) -> ThreadView:
        """The view of a thread's state; a thread recorded before the state had a reference,
        requester or last activity gets them worked out from what it has."""
        fields = state.model_dump(include=set(cls.model_fields))
        fields.update(
            reference=state.reference or ticket_reference(state.thread_id),
            requester=state.requester or first_sender(state),
            last_activity=last_activity(state),
        )
        return cls.model_validate(fields)

    def public(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def first_sender(state: ThreadState) -> str:
    if state.messages and state.messages[0].from_addr:
        return state.messages[0].from_addr
    return state.participants[0] if state.participants else ""


def last_activity(state: ThreadState) -> datetime | None:
    """The latest of the recorded last activity, the mail received and the stages passed."""
    moments = [
        state.last_activity,
        *(m.received_at for m in state.messages),
        *(change.at for change in state.history),
    ]
    known = [aware(m) for m in moments if m is not None]
    return max(known) if known else None


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ThreadFilter:
    """`mailroom threads` options; None or empty: no condition."""

    status: ThreadStatus | None = None
    stage: str | None = None
    flow: str | None = None
    mailbox: str | None = None
    search: str = ""

    def keeps(self, view: ThreadView) -> bool:
        return (
            (self.status is None or view.status == self.status)
            and same(self.stage, view.stage)
            and same(self.flow, view.flow)
            and same(self.mailbox, view.mailbox)
            and (not self.search or self.search.casefold() in searched_text(view))
        )


def same(wanted: str | None, value: str | None) -> bool:
    return wanted is None or (value or "").casefold() == wanted.casefold()


def searched_text(view: ThreadView) -> str:
    # the reference as the table and subjects write it: "#MX8NHE" and "[#MX8NHE]" find it
    reference = f"[#{view.reference}]"
    fields = [view.subject, view.requester, *view.participants, reference, view.thread_id]
    return "\n".join(fields).casefold()


def listed(views: Iterable[ThreadView], keep: ThreadFilter) -> list[ThreadView]:
    """The views `keep` keeps, most recently active first (never active: last)."""
    chosen = sorted((v for v in views if keep.keeps(v)), key=lambda v: v.thread_id)
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(chosen, key=lambda v: v.last_activity or oldest, reverse=True)


def table(views: Sequence[ThreadView], width: int = TABLE_WIDTH) -> list[str]:
    """One aligned line per view under a header, every field safe for a terminal; the
    subject is cut to what is left of `width`."""
    rows = [HEADER, *(cells(v) for v in views)]
    widths = {
        column: min(max(columns(row[column]) for row in rows), COLUMN_CAPS.get(column, width))
        for column in HEADER
    }
    used = sum(widths.values()) + len(GAP) * len(widths)
    subject_width = max(width - used, MIN_SUBJECT_WIDTH)
    subjects = ["SUBJECT", *(visible(v.subject) for v in views)]
    return [
        GAP.join(padded(cut(row[c], widths[c]), widths[c]) for c in HEADER)
        + GAP
        + cut(subject, subject_width)
        for row, subject in zip(rows, subjects, strict=True)
    ]


def cells(view: ThreadView) -> dict[str, str]:
    when = view.last_activity.astimezone(UTC) if view.last_activity else None
    return {
        "reference": f"#{visible(view.reference)}",
        "status": view.status.value,
        "last_activity": f"{when:%Y-%m-%d %H:%M}" if when else "-",
        "flow": visible(view.flow or "-"),
        "stage": visible(view.stage or "-"),
        "requester": visible(view.requester or "-"),
    }


def columns(text: str) -> int:
    """The terminal columns `text` takes: two for a wide (CJK) character, none for a
    combining mark."""
    return sum(char_columns(char) for char in text)


def char_columns(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in WIDE else 1


def cut(text: str, width: int) -> str:
    """`text` in at most `width` terminal columns, an ellipsis where it was cut."""
    if columns(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += char_columns(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def padded(text: str, width: int) -> str:
    return text + " " * (width - columns(text))


def stage_hint(stage: str, views: Iterable[ThreadView]) -> str:
    """What to say when `--stage` kept no thread: the stages the threads are at now, so a
    typo or a cut name ("awaiting") shows the right one; "" when the stage is one of them."""
    stages = sorted({v.stage for v in views if v.stage})
    if any(same(stage, s) for s in stages):
        return ""
    now = ", ".join(visible(s) for s in stages) or "none"
    return f"no thread at stage {visible(stage)!r} (stages now: {now})"
