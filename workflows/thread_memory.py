"""What a thread keeps of the mail it receives: summaries, bounces, and which mail under a
known Message-ID is another mail (pure functions on ThreadState, for workflows/thread.py)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.models import DeliveryFailure, MessageSummary, NewMessage, ThreadState

from workflows.sending import remember


def other_content(state: ThreadState, message: NewMessage) -> bool:
    """A mail we have by this Message-ID, but not this one: a sender that reuses ids, or
    a forgery, is kept (and marked), not dropped as a redelivery. Known for the recent
    summaries only, and only for mail that carries a digest."""
    if not message.content_digest:
        return False
    known = {m.content_digest for m in state.messages if m.message_id == message.message_id}
    return bool(known) and "" not in known and message.content_digest not in known


def record_bounce(state: ThreadState, message: NewMessage) -> None:
    """A bounce of one of our mails is a delivery failure of this thread (RFC 3464)."""
    report = message.report
    assert report is not None
    failure = DeliveryFailure(
        message_id=report.original_message_id,
        recipients=report.recipients,
        status=report.status,
        reason=report.diagnostic,
        source="bounce",
        at=workflow.now(),
    )
    state.delivery_failures = remember(state.delivery_failures, failure)


def summary(message: NewMessage) -> MessageSummary:
    return MessageSummary(
        message_id=message.message_id,
        from_addr=message.from_addr,
        subject=message.subject,
        received_at=message.received_at,
        automatic=message.automatic,
        thread_rule=message.thread_rule,
        content_digest=message.content_digest,
    )
