"""OutboxEntry values for the tests of the sent logs: what `mailroom outbox` lists of a mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from use_cases.mail import OutboxEntry

SENT_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def sent_entry(message_id: str, *, minutes: int = 0, subject: str = "Re: Monitors") -> OutboxEntry:
    """A reply to a thread, sent `minutes` after SENT_AT."""
    return OutboxEntry(
        message_id=message_id,
        from_addr="procurement@mailroom.local",
        to=["buyer@example.com", "boss@example.com"],
        subject=subject,
        in_reply_to="<root@example.com>",
        references=["<root@example.com>", "<answer@example.com>"],
        reply_to="procurement+t1@mailroom.local",
        sent_at=SENT_AT + timedelta(minutes=minutes),
    )
