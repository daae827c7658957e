"""The adapters' back-pressure: how the backlog watcher reads the threads it probes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.temporal_backlog import HandoffBacklog, probe_interval_for

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


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backlog(tasks: ScheduledTasks, clock: Clock) -> HandoffBacklog:
    return HandoffBacklog(tasks, limit=LIMIT, probed_per_round=2, clock=clock)


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


async def test_a_waiting_thread_keeps_the_age_growing_until_it_is_seen_applied(
    backlog: HandoffBacklog, tasks: ScheduledTasks, clock: Clock
) -> None:
    for thread in ("slow", "b", "c", "d"):
        backlog.handed_off(thread)
    tasks.ages["slow"] = 1.0
    assert await backlog.probe() == 1.0  # slow waits; b is applied (no pending task)
    clock.now += 1.5
    tasks.ages["slow"] = RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
    # This round learns nothing new of "slow" and finds c applied: the age grows on.
    assert await backlog.probe() == 2.5 and backlog.overloaded
    assert tasks.probed[-2:] == ["slow", "c"]
    del tasks.ages["slow"]
    clock.now += 0.5
    await backlog.probe()
    assert backlog.age == 0.0 and not backlog.overloaded


async def test_the_longest_waiting_threads_are_rechecked_first(
    backlog: HandoffBacklog, tasks: ScheduledTasks
) -> None:
    for thread in ("a", "b", "c", "d", "e"):
        backlog.handed_off(thread)
    tasks.ages.update(a=0.5, b=0.2, c=0.0, d=0.1, e=0.1)  # c: a task being retried
    await backlog.probe()  # a, b
    await backlog.probe()  # a (longest waiting), then c (next in turn)
    assert tasks.probed == ["a", "b", "a", "c"]


async def test_mail_arriving_during_a_probe_keeps_the_thread_tracked(
    backlog: HandoffBacklog,
) -> None:
    class Racing(ScheduledTasks):
        async def __call__(self, workflow_id: str) -> float | None:
            backlog.handed_off(workflow_id)  # new mail while the describe is in flight
            return None  # ...which saw the earlier mail applied

    backlog.task_age = Racing()
    backlog.handed_off("a")
    await backlog.probe()
    assert list(backlog.unconfirmed) == ["a"]


async def test_a_thread_that_cannot_be_described_keeps_what_was_known_and_waits_its_turn(
    backlog: HandoffBacklog, tasks: ScheduledTasks
) -> None:
    for thread in ("a", "b", "c"):
        backlog.handed_off(thread)
    tasks.ages.update(a=2.5, b=0.0, c=0.0)
    await backlog.probe()
    assert backlog.overloaded
    tasks.ages["a"] = RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
    tasks.ages["b"] = RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
    await backlog.probe()  # a (longest waiting) is unknown this round, c is running
    assert tasks.probed[-2:] == ["a", "c"]
    assert backlog.overloaded and backlog.age >= 2.5
    assert list(backlog.unconfirmed) == ["b", "a", "c"]  # probed ones go to the back


async def test_nothing_handed_off_means_no_backlog(backlog: HandoffBacklog) -> None:
    assert await backlog.probe() == 0.0 and not backlog.overloaded


def test_probes_come_less_often_for_a_looser_bound() -> None:
    # Each probe is a DescribeWorkflowExecution the server pays for.
    assert probe_interval_for(timedelta(seconds=10)) == timedelta(milliseconds=500)
    assert probe_interval_for(timedelta(seconds=2)) == timedelta(milliseconds=250)
    assert probe_interval_for(timedelta(minutes=5)) == timedelta(seconds=1)
