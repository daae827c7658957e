"""Use case: one received mail → a NEW_MESSAGE for the thread of each mailbox it was sent to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from use_cases.automatic import automatic_reason
from use_cases.models import MAX_SIGNAL_TEXT_CHARS, InboundEmail, Ingested, NewMessage, ThreadKey
from use_cases.ports import EmailParser, ThreadGateway
from use_cases.threading import thread_key


def to_new_message(email: InboundEmail, key: ThreadKey, received_at: datetime) -> NewMessage:
    return NewMessage(
        mailbox=key.mailbox,
        message_id=email.message_id,
        in_reply_to=email.in_reply_to,
        references=email.references,
        from_addr=email.from_addr,
        from_name=email.from_name,
        to=email.to,
        cc=email.cc,
        subject=email.subject,
        date=email.date,
        received_at=received_at,
        text=email.text[:MAX_SIGNAL_TEXT_CHARS],
        text_truncated=len(email.text) > MAX_SIGNAL_TEXT_CHARS,
        automatic=automatic_reason(email),
        thread_rule=key.rule,
    )


async def ingest_email(
    raw: bytes,
    *,
    mailboxes: Sequence[str],
    gateway: ThreadGateway,
    parse: EmailParser,
    envelope_from: str | None = None,
    received_at: datetime | None = None,
) -> Ingested:
    """Hand `raw` to its thread in every mailbox; raises HandoffFailed if any hand-off failed.

    A retry after a partial failure is harmless: threads apply a Message-ID once.
    """
    email = parse(raw)
    if envelope_from is not None and email.return_path is None:
        email = email.model_copy(update={"return_path": envelope_from})
    received_at = received_at or datetime.now(UTC)
    thread_ids: list[str] = []
    for mailbox in dict.fromkeys(mailboxes):
        key = thread_key(email, mailbox=mailbox)
        await gateway.new_message(key, to_new_message(email, key, received_at))
        thread_ids.append(key.workflow_id)
    return Ingested(message_id=email.message_id, thread_ids=tuple(thread_ids))
