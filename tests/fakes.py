"""Recording fakes for the ports we own. Never for Temporal."""

from __future__ import annotations

from use_cases.models import (
    CompleteRequest,
    NewMessage,
    OutboundEmail,
    SendResult,
    ThreadKey,
    ThreadState,
    ThreadStatus,
)
from use_cases.ports import HandoffFailed, ThreadNotFound


class FakeEmailSender:
    def __init__(self) -> None:
        self.sent: list[OutboundEmail] = []
        self.attempts = 0
        self.failures_left = 0

    async def send(self, mail: OutboundEmail) -> SendResult:
        self.attempts += 1
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("relay down (fake)")
        if any(m.message_id == mail.message_id for m in self.sent):
            return SendResult(message_id=mail.message_id, already_sent=True)
        self.sent.append(mail)
        return SendResult(message_id=mail.message_id, already_sent=False)


class FakeThreadGateway:
    def __init__(self) -> None:
        self.handed_off: list[tuple[ThreadKey, NewMessage]] = []
        self.completed: list[tuple[str, CompleteRequest]] = []
        self.fail_with: str | None = None

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if self.fail_with:
            raise HandoffFailed(self.fail_with)
        self.handed_off.append((key, message))

    async def complete(self, thread_id: str, request: CompleteRequest) -> None:
        self.completed.append((thread_id, request))

    async def get(self, thread_id: str) -> ThreadState:
        for key, _ in self.handed_off:
            if key.workflow_id == thread_id:
                return ThreadState(thread_id=thread_id, workflow_id=thread_id, mailbox=key.mailbox)
        raise ThreadNotFound(thread_id)

    async def list(self, status: ThreadStatus | None = None) -> list[ThreadState]:
        ids = dict.fromkeys(k.workflow_id for k, _ in self.handed_off)
        return [await self.get(i) for i in ids]
