"""Automatic replies, built deterministically so workflow replays produce the same mail."""

from __future__ import annotations

import hashlib
import re

from use_cases.mail import OutboundEmail
from use_cases.models import NewMessage, ThreadState, answer_address
from use_cases.tickets import ticket_reference

# RFC 5322 §3.6.4 lets References be trimmed; keep the root and the most recent ones so
# a long thread never grows an unbounded header.
MAX_REFERENCES = 20
REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw)\s*:", re.IGNORECASE)


def reply_message_id(kind: str, inbound_message_id: str, mailbox: str) -> str:
    digest = hashlib.sha256(f"{kind}:{mailbox}:{inbound_message_id}".encode()).hexdigest()[:24]
    domain = mailbox.rpartition("@")[2] or "mailroom.local"
    return f"<{kind}-{digest}@{domain}>"


def reply_subject(subject: str) -> str:
    subject = subject.strip() or "(no subject)"
    return subject if REPLY_PREFIX.match(subject) else f"Re: {subject}"


def reply_references(message: NewMessage) -> tuple[str, ...]:
    chain = list(dict.fromkeys([*message.references, message.message_id]))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return tuple(chain)


def acknowledgement(message: NewMessage, thread: ThreadState) -> OutboundEmail:
    """The reply that tells a human their mail reached a thread, threaded to that mail. It
    names the thread by its ticket reference: the workflow id is ours, not theirs."""
    reference = thread.reference or ticket_reference(thread.thread_id)
    text = (
        f"Hello{' ' + message.from_name if message.from_name else ''},\n\n"
        f'we received your message "{message.subject or "(no subject)"}"; its reference is '
        f"[#{reference}].\nReply to this email to add to the same request.\n\n"
        f"-- \nmailroom, {thread.mailbox}\n"
    )
    return OutboundEmail(
        message_id=reply_message_id("ack", message.message_id, thread.mailbox),
        from_addr=thread.mailbox,
        to=(answer_address(message),),
        subject=reply_subject(message.subject),
        text=text,
        in_reply_to=message.message_id,
        references=reply_references(message),
        reply_to=message.reply_address or thread.mailbox,  # signed token: threading rule (a)
        headers={"Auto-Submitted": "auto-replied", "X-Loop": thread.mailbox},
        thread_id=thread.thread_id,
        kind="acknowledgement",
    )
