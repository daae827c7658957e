"""What the Temporal Web UI shows of a thread or flow: its summary, details and stage.

Temporal keeps these as workflow user metadata: a static summary and details given at start
(the first mail's subject and requester), and current details the workflow sets as it goes
(its stage). Subjects and addresses come from mail, so they are untrusted: each is cut to one
line of printable text, bounded, and made inert as markdown: the Web UI renders summary and
details as markdown with raw HTML (measured with UI 2.54.1: `<img src=…>` loads a remote
image, `[x](javascript:…)` is a link), so mail must not bring markup, links or images.
"""

from __future__ import annotations

import re
import unicodedata

from use_cases.tickets import ticket_reference

SUMMARY_LENGTH = 120  # one line of the Web UI's list and event views
FIELD_LENGTH = 200
ELLIPSIS = "…"
# Backslash-escaped (CommonMark: any ASCII punctuation may be): what starts HTML, autolinks,
# links, images and code; the colon of "://" and the dot of "www." too, so no bare address
# becomes a link. (The UI's renderer shows an escaped slash with its backslash: measured.)
MARKUP = re.compile(r"[\\`<>\[\]]|:(?=//)|(?<=www)\.", re.IGNORECASE)


def one_line(text: str, limit: int = FIELD_LENGTH) -> str:
    """`text` as one line of at most `limit` characters (and the backslashes that escape
    markup), for what the Web UI renders as markdown."""
    return MARKUP.sub(lambda found: "\\" + found.group(), plain_line(text, limit))


def plain_line(text: str, limit: int = FIELD_LENGTH) -> str:
    """`text` as one line of at most `limit` characters, for what is shown as text (search
    attributes): control and format characters (newlines, escapes, bidirectional
    overrides) become spaces, runs of spaces one."""
    if text.isascii() and text.isprintable():  # no control or format character: as it is
        printable = text
    else:
        printable = "".join(
            " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in text
        )
    line = " ".join(printable.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + ELLIPSIS
    return line


def thread_summary(subject: str, requester: str) -> str:
    """The subject, a dash and the requester, bounded as a whole; the requester is kept
    when the subject is long."""
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
    prefix = f"{flow} flow: "
    return prefix + (one_line(subject, SUMMARY_LENGTH - len(prefix)) or "(no subject)")


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
