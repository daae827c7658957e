"""Sending mail on behalf of a workflow."""

from __future__ import annotations

from temporalio import activity

from use_cases.models import OutboundEmail, SendResult
from use_cases.ports import EmailSender


class EmailActivities:
    def __init__(self, sender: EmailSender) -> None:
        self.sender = sender

    @activity.defn(name="send_email")
    async def send_email(self, mail: OutboundEmail) -> SendResult:
        """Idempotent by the Message-ID the workflow fixed: Temporal may run this twice."""
        result = await self.sender.send(mail)
        activity.logger.info(
            "email %s %s", "already sent" if result.already_sent else "sent", mail.message_id
        )
        return result
