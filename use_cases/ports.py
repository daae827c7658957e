"""Ports: what the application needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from use_cases.models import (
    CompleteRequest,
    InboundEmail,
    NewMessage,
    OutboundEmail,
    OutboxEntry,
    SendResult,
    ThreadKey,
    ThreadState,
    ThreadStatus,
)


class HandoffFailed(Exception):
    """The thread engine did not acknowledge a hand-off; the caller must retry later."""


class ThreadNotFound(LookupError):
    pass


class ThreadGateway(Protocol):
    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        """Durably hand a message to its thread (signal-with-start); raise HandoffFailed."""
        ...

    async def complete(self, thread_id: str, request: CompleteRequest) -> None: ...

    async def get(self, thread_id: str) -> ThreadState: ...

    async def list(self, status: ThreadStatus | None = None) -> list[ThreadState]: ...


class EmailSender(Protocol):
    async def send(self, mail: OutboundEmail) -> SendResult:
        """Send once: a Message-ID already sent is not sent again."""
        ...


class Outbox(Protocol):
    def entries(self) -> list[OutboxEntry]: ...


EmailParser = Callable[[bytes], InboundEmail]
