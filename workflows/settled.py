"""Telling the outside where a workflow came to rest, not every step on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from temporalio import workflow

T = TypeVar("T")


class OnceSettled(Generic[T]):
    """Sends the latest value offered, once `settled()` holds. Wait conditions are checked
    only after everything runnable has run, so the values offered on the way (the stages a
    flow passes in one step) cost one send (one command or local activity, one history
    event) of where the workflow came to rest. A value offered while one is being sent goes
    next."""

    def __init__(self, settled: Callable[[], bool], send: Callable[[T], Awaitable[None]]) -> None:
        self._settled = settled
        self._send = send
        self._latest: list[T] = []
        self._sending: asyncio.Task[None] | None = None

    def offer(self, value: T) -> None:
        self._latest[:] = [value]
        if self.sent:
            self._sending = asyncio.create_task(self._send_latest())

    @property
    def sent(self) -> bool:
        """Nothing offered is still waiting (checked before completing or continuing)."""
        return self._sending is None or self._sending.done()

    async def _send_latest(self) -> None:
        while self._latest:
            await workflow.wait_condition(self._settled)
            await self._send(self._latest.pop())
