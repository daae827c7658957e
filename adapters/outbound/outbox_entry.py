"""What `mailroom outbox` lists of a sent mail (OutboxEntry), read from its headers: the
same for a mail in the built-in outbox (outbox.py) and one handed to a relay, whose sent log
keeps these fields (smtp_sender.py, postgres_sent_log.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses

from adapters.inbound.mime import MSG_ID
from use_cases.mail import OutboxEntry


def entry_of(headers: Message, sent_at: datetime) -> OutboxEntry:
    """The entry of a mail as written (to_mime's headers): `sent_at` when it was sent."""
    return OutboxEntry(
        message_id=str(headers.get("Message-ID", "")),
        from_addr=str(headers.get("From", "")),
        to=recipients(str(headers.get("To", ""))),
        subject=str(headers.get("Subject", "")),
        in_reply_to=str(headers["In-Reply-To"]) if headers["In-Reply-To"] else None,
        references=MSG_ID.findall(str(headers.get("References", ""))),
        reply_to=str(headers["Reply-To"]) if headers["Reply-To"] else None,
        sent_at=sent_at,
    )


# What makes a display name need quotes (RFC 5322 specials, as email.utils.formataddr).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def recipients(to: str) -> list[str]:
    """Each address of a To header, written as one: a comma inside a quoted name (`"Doe, John"
    <j@example.com>`) does not split it. A name stays as read (never RFC 2047-encoded)."""
    return [_written(name, addr) for name, addr in getaddresses([to]) if addr]


def _written(name: str, addr: str) -> str:
    if not name:
        return addr
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


def logged_entry(
    message_id: str,
    sent_at: datetime,
    from_addr: str | None,
    to: Sequence[str] | None,
    subject: str | None,
    in_reply_to: str | None,
    references: Sequence[str] | None,
    reply_to: str | None,
) -> OutboxEntry:
    """An entry as a sent log keeps it; a row recorded before the log kept details (only
    the Message-ID and when) lists with empty fields."""
    return OutboxEntry(
        message_id=message_id,
        from_addr=from_addr or "",
        to=list(to or ()),
        subject=subject or "",
        in_reply_to=in_reply_to,
        references=list(references or ()),
        reply_to=reply_to,
        sent_at=sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC),
    )
