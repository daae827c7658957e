"""What the Temporal Web UI shows of a thread or flow: its summary, details and stage.

Temporal keeps these as workflow user metadata: a static summary and details given at start
(the first mail's subject and requester), and current details the workflow sets as it goes
(its stage). Subjects and addresses come from mail, so they are untrusted: each is cut to one
line of printable text, bounded, before it reaches the UI. The Web UI shows these strings as
text (it escapes markup), so no markdown escaping is needed.
"""

from __future__ import annotations

import unicodedata

from use_cases.tickets import ticket_reference

SUMMARY_LENGTH = 120  # one line of the Web UI's list and event views
FIELD_LENGTH = 200
ELLIPSIS = "…"


def one_line(text: str, limit: int = FIELD_LENGTH) -> str:
    """`text` as one line of at most `limit` characters: control and format characters
    (newlines, escapes, bidirectional overrides) become spaces, runs of spaces one."""
    printable = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in text
    )
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + ELLIPSIS


def thread_summary(subject: str, requester: str) -> str:
    """ "<subject> — <requester>", bounded as a whole; the requester is kept when the
    subject is long."""
    who = one_line(requester, 60) or "unknown sender"
    room = SUMMARY_LENGTH - len(who) - 3
    return f"{one_line(subject, room) or '(no subject)'} — {who}"


def thread_details(mailbox: str, thread_id: str, first_message_id: str) -> str:
    return "\n".join(
        (
            f"**mailbox** {one_line(mailbox)}",
            f"**ticket** #{ticket_reference(thread_id)}",
            f"**first message** {one_line(first_message_id)}",
        )
    )


def flow_summary(flow: str, subject: str) -> str:
    return one_line(f"{flow} flow: {one_line(subject) or '(no subject)'}", SUMMARY_LENGTH)


def stage_details(
    thread_id: str,
    *,
    stage: str | None,
    flow: str | None,
    messages: int | None = None,
    status: str | None = None,
    summary: str | None = None,
) -> str:
    """The current stage, as the Web UI's "current details" show it:
    "**stage** waiting_for_customer · flow support · 3 messages · ref #K7Q2MX", and the
    thread's summary on a second line when given (a run that continued-as-new has no
    static summary: Temporal starts it without one)."""
    parts = [f"**stage** {stage or 'new'}"]
    if flow:
        parts.append(f"flow {flow}")
    if messages is not None:
        parts.append(f"{messages} message" + ("" if messages == 1 else "s"))
    if status:
        parts.append(status)
    parts.append(f"ref #{ticket_reference(thread_id)}")
    line = " · ".join(parts)
    return f"{line}\n{summary}" if summary else line
