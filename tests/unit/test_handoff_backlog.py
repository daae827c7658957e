"""The adapters' back-pressure: how the backlog watcher reads the threads it probes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.temporal_backlog import HandoffBacklog

LIMIT = timedelta(seconds=2)


class ScheduledTasks:
    """A fake TaskAge: seconds each thread's workflow task has waited; absent = applied."""

    def __init__(self) -> None:
        self.ages: dict[str, float | Exception] = {}
        self.probed: list[str] = []

    async def __call__(self, workflow_id: str) -> float | None:
        self.probed.append(workflow_id)
        age = self.ages.get(workflow_id)
        if isinstance(age, Exception):
            raise age
        return age


@pytest.fixture
def tasks() -> ScheduledTasks:
    return ScheduledTasks()


@pytest.fixture
def backlog(tasks: ScheduledTasks) -> HandoffBacklog:
    return HandoffBacklog(tasks, limit=LIMIT, probed_per_round=2)


async def test_a_thread_whose_mail_waits_past_the_limit_defers_new_mail(
    backlog: HandoffBacklog, tasks: ScheduledTasks
) -> None:
    backlog.handed_off("thread-a")
    tasks.ages["thread-a"] = 0.5
    assert await backlog.probe() == 0.5 and not backlog.overloaded
    tasks.ages["thread-a"] = 2.5
    assert await backlog.probe() == 2.5 and backlog.overloaded


async def test_it_clears_only_below_half_the_limit_and_wakes_the_waiters(
    backlog: HandoffBacklog, tasks: ScheduledTasks
) -> None:
    backlog.handed_off("thread-a")
    tasks.ages["thread-a"] = 3.0
    await backlog.probe()
    waiter = asyncio.create_task(backlog.wait_until_clear())
    tasks.ages["thread-a"] = 1.5  # below the limit, not below half: still deferring
    await backlog.probe()
    assert backlog.overloaded and not waiter.done()
    del tasks.ages["thread-a"]  # applied: nothing pending any more
    await backlog.probe()
    assert not backlog.overloaded
    await asyncio.wait_for(waiter, 1)
    assert backlog.unconfirmed == {}


async def test_applied_threads_leave_and_pending_ones_are_probed_in_turn(
    backlog: HandoffBacklog, tasks: ScheduledTasks
) -> None:
    for thread in ("a", "b", "c"):
        backlog.handed_off(thread)
    tasks.ages.update(a=0.0, c=0.1)  # a: a worker runs it; b: applied; c: waiting
    await backlog.probe()
    assert tasks.probed == ["a", "b"]
    assert list(backlog.unconfirmed) == ["c", "a"]
    await backlog.probe()
    assert tasks.probed[2:] == ["c", "a"]


async def test_a_thread_that_cannot_be_described_is_skipped_not_fatal(
    backlog: HandoffBacklog, tasks: ScheduledTasks
) -> None:
    backlog.handed_off("a")
    backlog.handed_off("b")
    tasks.ages["a"] = RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
    tasks.ages["b"] = 2.5
    assert await backlog.probe() == 2.5
    assert backlog.overloaded and list(backlog.unconfirmed) == ["a", "b"]


async def test_nothing_handed_off_means_no_backlog(backlog: HandoffBacklog) -> None:
    assert await backlog.probe() == 0.0 and not backlog.overloaded
