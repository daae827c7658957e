"""Sending mail on behalf of a workflow."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from use_cases.models import DeliveryFailureDetails, OutboundEmail, SendResult
from use_cases.ports import EmailSender, PermanentDeliveryFailure

PERMANENT_DELIVERY_FAILURE = "PermanentDeliveryFailure"


class EmailActivities:
    def __init__(self, sender: EmailSender) -> None:
        self.sender = sender

    @activity.defn(name="send_email")
    async def send_email(self, mail: OutboundEmail) -> SendResult:
        """Idempotent by the Message-ID the workflow fixed: Temporal may run this twice."""
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
        activity.logger.info(
            "email %s %s", "already sent" if result.already_sent else "sent", mail.message_id
        )
        return result
