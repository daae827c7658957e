"""Sending mail on behalf of a workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from use_cases.decision_channel import decision_address
from use_cases.mail import OutboundEmail, SendResult
from use_cases.models import DeliveryFailureDetails
from use_cases.ports import AutoReplyLog, EmailSender, PermanentDeliveryFailure

PERMANENT_DELIVERY_FAILURE = "PermanentDeliveryFailure"


DEFAULT_CAP = 20
CAP_WINDOW = timedelta(hours=1)


class EmailActivities:
    def __init__(
        self,
        sender: EmailSender,
        auto_replies: AutoReplyLog | None = None,
        auto_reply_cap: int = DEFAULT_CAP,
        decision_key: bytes = b"",
    ) -> None:
        self.sender = sender
        self.auto_replies = auto_replies
        self.auto_reply_cap = auto_reply_cap
        self.decision_key = decision_key

    @activity.defn(name="send_email")
    async def send_email(self, mail: OutboundEmail) -> SendResult:
        """Idempotent by the Message-ID the workflow fixed: Temporal may run this twice."""
        if await self._over_cap(mail):
            activity.logger.warning(
                "automatic mail %s to %s suppressed: over %d per hour",
                mail.message_id,
                mail.to,
                self.auto_reply_cap,
            )
            return SendResult(message_id=mail.message_id, already_sent=False, suppressed=True)
        mail = self._signed(mail)
        try:
            result = await self.sender.send(mail)
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
        if self.auto_replies is not None and _automatic(mail) and not result.already_sent:
            await self.auto_replies.record(mail.to, datetime.now(UTC))
        activity.logger.info(
            "email %s %s", "already sent" if result.already_sent else "sent", mail.message_id
        )
        return result

    def _signed(self, mail: OutboundEmail) -> OutboundEmail:
        """An approval request's Reply-To: the approver's signed decision address (the same
        on every retry, so the mail stays the same mail)."""
        wanted = mail.decision_reply_to
        if wanted is None:
            return mail
        address = decision_address(wanted.thread_id, wanted.approver, self.decision_key)
        return mail.model_copy(update={"reply_to": address or mail.reply_to})

    async def _over_cap(self, mail: OutboundEmail) -> bool:
        """Across all threads, no recipient gets more than the cap of automatic mail an hour:
        two robots answering each other in ever new threads stop here (RFC 3834 §2)."""
        if self.auto_replies is None or not _automatic(mail):
            return False
        since = datetime.now(UTC) - CAP_WINDOW
        for recipient in mail.to:
            if await self.auto_replies.sent_since(recipient, since) >= self.auto_reply_cap:
                return True
        return False


def _automatic(mail: OutboundEmail) -> bool:
    return mail.headers.get("Auto-Submitted", "no").lower() != "no"
