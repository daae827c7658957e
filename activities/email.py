"""Sending mail on behalf of a workflow."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.metrics import mail_sent
from use_cases.decision_channel import decision_address
from use_cases.mail import OutboundEmail, SendResult
from use_cases.models import DeliveryFailureDetails, ThreadEntry
from use_cases.ports import AutoReplyLog, EmailSender, PermanentDeliveryFailure, ThreadIndex
from use_cases.reply_cap import AutomaticMailCaps

PERMANENT_DELIVERY_FAILURE = "PermanentDeliveryFailure"


class EmailActivities:
    def __init__(
        self,
        sender: EmailSender,
        auto_replies: AutoReplyLog | None = None,
        caps: AutomaticMailCaps | None = None,
        decision_key: bytes = b"",
        thread_index: ThreadIndex | None = None,
    ) -> None:
        self.sender = sender
        self.auto_replies = auto_replies
        self.caps = caps or AutomaticMailCaps()
        self.decision_key = decision_key
        self.thread_index = thread_index

    @activity.defn(name="send_email")
    async def send_email(self, mail: OutboundEmail) -> SendResult:
        """Idempotent by the Message-ID the workflow fixed: Temporal may run this twice."""
        over = await self._over_cap(mail)
        if over is not None:
            activity.logger.warning(
                "automatic mail %s to %s suppressed: %s", mail.message_id, mail.to, over
            )
            held = SendResult(message_id=mail.message_id, already_sent=False, suppressed=True)
            mail_sent(mail, held)
            return held
        mail = self._signed(mail)
        await self._index(mail)
        try:
            # A slow relay heartbeats: a dead worker's send is retried elsewhere soon.
            result = await heartbeating(self.sender.send(mail))
        except PermanentDeliveryFailure as failure:
            # Non-retryable: the workflow records it on the thread instead of retrying forever.
            raise ApplicationError(
                str(failure),
                DeliveryFailureDetails(
                    status=failure.status, reason=failure.reason, recipients=failure.recipients
                ),
                type=PERMANENT_DELIVERY_FAILURE,
                non_retryable=True,
            ) from failure
        activity.logger.info(
            "email %s %s", "already sent" if result.already_sent else "sent", mail.message_id
        )
        mail_sent(mail, result)
        return result

    async def _index(self, mail: OutboundEmail) -> None:
        """Teach the thread index this mail's Message-ID before it can be answered."""
        if self.thread_index is None or not mail.thread_id:
            return
        entry = ThreadEntry(
            workflow_id=mail.thread_id, message_ids=(mail.message_id,), at=datetime.now(UTC)
        )
        await self.thread_index.record(mail.from_addr, mail.thread_id, entry)

    def _signed(self, mail: OutboundEmail) -> OutboundEmail:
        """An approval request's Reply-To: the approver's signed decision address (the same
        on every retry, so the mail stays the same mail)."""
        wanted = mail.decision_reply_to
        if wanted is None:
            return mail
        address = decision_address(
            wanted.thread_id, wanted.request, wanted.approver, self.decision_key
        )
        return mail.model_copy(update={"reply_to": address or mail.reply_to})

    async def _over_cap(self, mail: OutboundEmail) -> str | None:
        """Across all threads, automatic mail is capped per person, per domain and in all:
        two robots answering each other in ever new threads stop here (RFC 3834 §2). The
        mail is counted before it is sent, so concurrent sends cannot pass a cap together."""
        if self.auto_replies is None or not _automatic(mail):
            return None
        if mail.decision_reply_to is not None:  # to an approver on file, not to a sender
            return None
        return await self.auto_replies.reserve(
            mail.message_id,
            mail.to,
            datetime.now(UTC),
            self.caps,
            per_person_only=mail.recipient_verified,
        )


def _automatic(mail: OutboundEmail) -> bool:
    return mail.headers.get("Auto-Submitted", "no").lower() != "no"
