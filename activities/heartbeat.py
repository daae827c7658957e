"""Heartbeats while an activity waits on something slow (an agent over HTTP, an SMTP relay).

A worker killed mid-call stops heartbeating: the server then retries the activity on
another worker once its heartbeat timeout passes (seconds), instead of after its whole
start-to-close timeout (a minute). Outside an activity, in a local activity (which has no
heartbeats) or when the caller set no heartbeat timeout, the call runs as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")
# Several heartbeats per timeout: one late beat (a busy event loop) is not a dead worker.
BEATS_PER_TIMEOUT = 5


async def heartbeating(call: Awaitable[T]) -> T:
    """`await heartbeating(slow_call())`: the call's result, heartbeating while it runs."""
    async with heartbeats():
        return await call


@contextlib.asynccontextmanager
async def heartbeats() -> AsyncIterator[None]:
    timeout = _heartbeat_timeout()
    if timeout is None:
        yield
        return
    beating = asyncio.create_task(_beat(timeout.total_seconds() / BEATS_PER_TIMEOUT))
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


def _heartbeat_timeout() -> timedelta | None:
    if not activity.in_activity():
        return None
    info = activity.info()
    return None if info.is_local else info.heartbeat_timeout


async def _beat(every_seconds: float) -> None:
    # The task inherits the activity's context, so heartbeat() reaches the activity.
    while True:
        activity.heartbeat()
        await asyncio.sleep(every_seconds)
