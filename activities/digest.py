"""The digest's activities: gather the open threads, send the digest once."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import mail_sent
from use_cases.digest import DigestFacts, DigestInput, digest_row
from use_cases.mail import OutboundEmail, SendResult
from use_cases.models import ThreadStatus
from use_cases.ports import EmailSender, PermanentDeliveryFailure, ThreadGateway


class DigestActivities:
    def __init__(self, threads: ThreadGateway, sender: EmailSender, from_addr: str) -> None:
        self.threads = threads
        self.sender = sender
        self.from_addr = from_addr

    @activity.defn(name="gather_digest")
    async def gather_digest(self, digest: DigestInput) -> DigestFacts:
        """The open threads (their rows only), and the address `digest` comes from. (It
        takes its input: with no argument, mypy 1.x typing `execute_activity_method` in a
        fresh run lost the workflow types of other modules, ThreadWorkflow.run's.)"""
        states = await self.threads.list(ThreadStatus.OPEN)
        return DigestFacts(sender=self.from_addr, rows=[digest_row(s) for s in states])

    @activity.defn(name="send_digest")
    async def send_digest(self, mail: OutboundEmail) -> SendResult:
        """Idempotent by the Message-ID the workflow fixed: a retried send is not sent
        twice (the sender keeps what it sent by Message-ID). To an operator's address on
        file, so the automatic-mail caps (activities/email.py) do not apply."""
        try:
            result = await self.sender.send(mail)
        except PermanentDeliveryFailure as failure:  # a 5xx: retrying never delivers it
            raise ApplicationError(str(failure), non_retryable=True) from failure
        activity.logger.info(
            "digest %s %s", "already sent" if result.already_sent else "sent", mail.message_id
        )
        mail_sent(mail, result)
        return result
