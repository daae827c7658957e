"""Run several calls at once and fail with the first failure, leaving nothing behind.

`asyncio.gather` raises the first failure and leaves the other calls running. In a command
that then returns, `asyncio.run` cancels them at shutdown — but one that has already failed
by then (several describe calls on a missing namespace fail together) is reported on stderr
as "unhandled exception during asyncio.run() shutdown", next to the command's one-line
error. A TaskGroup cancels the others and waits for them; the first failure is re-raised
alone, so callers keep catching `RPCError` and friends, not an ExceptionGroup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


@asynccontextmanager
async def first_failure_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup whose failure is the first of its tasks' failures, unwrapped."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def every(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Every call's result, in order; or the first failure once the rest are stopped."""
    async with first_failure_group() as group:
        tasks = [group.create_task(call) for call in calls]
    return [task.result() for task in tasks]
