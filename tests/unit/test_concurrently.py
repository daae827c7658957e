"""`every` and `first_failure_group`: the first failure alone, and nothing left running.

`mailroom status` on a missing namespace printed a second stderr line now and then ("unhandled
exception during asyncio.run() shutdown"): asyncio.gather raised the first describe call's
NOT_FOUND and left the others running, and one that failed before asyncio.run cancelled it was
reported at shutdown. These tests fail against asyncio.gather.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.concurrently import every, first_failure_group


async def test_the_first_failure_is_raised_alone_once_the_other_calls_have_stopped() -> None:
    started = asyncio.Event()
    stopped: list[str] = []

    async def fails() -> int:
        await started.wait()
        raise LookupError("namespace not found")

    async def waits() -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append("waits")
        return 1

    with pytest.raises(LookupError, match="namespace not found"):
        await every([fails(), waits()])
    assert stopped == ["waits"]  # not left running (the loop is shared: other tests' tasks run)


def test_a_call_failing_as_it_is_stopped_is_not_reported_at_shutdown() -> None:
    """The report seen in CI: a call still running when the command returned failed as
    asyncio.run stopped it, and asyncio.run printed it as an unhandled exception."""
    reported: list[str] = []

    async def fails_now() -> int:
        raise LookupError("namespace not found")

    async def fails_as_it_is_stopped() -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise LookupError("namespace not found, again") from None
        return 1

    async def command() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
        with pytest.raises(LookupError, match=r"namespace not found$"):
            await every([fails_as_it_is_stopped(), fails_now()])

    asyncio.run(command())
    assert reported == []


async def test_every_keeps_the_order_of_its_calls() -> None:
    async def after(turns: int, value: str) -> str:
        for _ in range(turns):
            await asyncio.sleep(0)
        return value

    assert await every([after(3, "a"), after(0, "b"), after(1, "c")]) == ["a", "b", "c"]


async def test_a_group_of_different_calls_fails_with_the_first_failure_unwrapped() -> None:
    with pytest.raises(ConnectionError, match="smtp"):
        async with first_failure_group() as group:
            group.create_task(asyncio.sleep(3600))
            group.create_task(_raise(ConnectionError("smtp")))


async def _raise(error: Exception) -> None:
    raise error
