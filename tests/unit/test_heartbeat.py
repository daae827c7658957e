"""Long activity calls heartbeat while they run, so a dead worker's call is retried soon."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.heartbeat import heartbeating
from adapters.agents.openai_compat import AgentEndpointRejected
from workflows.agent_calls import AGENT_RETRY

BEATS = 3


def environment(*, heartbeat_timeout: timedelta | None, local: bool = False) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=heartbeat_timeout, is_local=local)
    return env


async def test_a_slow_call_heartbeats_until_it_returns() -> None:
    env = environment(heartbeat_timeout=timedelta(milliseconds=50))
    beats: list[object] = []
    enough = asyncio.Event()

    def beat(*details: object) -> None:
        beats.append(details)
        if len(beats) >= BEATS:
            enough.set()

    env.on_heartbeat = beat

    async def slow_call() -> str:  # answers only once it was heartbeated for
        await asyncio.wait_for(enough.wait(), timeout=5)
        return "answer"

    async def activity() -> str:
        return await heartbeating(slow_call())

    assert await env.run(activity) == "answer"
    count = len(beats)
    await asyncio.sleep(0)  # one turn of the loop: a beat still running would show now
    assert len(beats) == count  # no heartbeats after the call returned


@pytest.mark.parametrize(
    ("heartbeat_timeout", "local"), [(None, False), (timedelta(milliseconds=10), True)]
)
async def test_without_a_heartbeat_timeout_or_in_a_local_activity_nothing_heartbeats(
    heartbeat_timeout: timedelta | None, local: bool
) -> None:
    env = environment(heartbeat_timeout=heartbeat_timeout, local=local)
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    async def activity() -> str:
        # a call as long as several heartbeat intervals (2 ms each where they were on)
        return await heartbeating(asyncio.sleep(0.02, result="answer"))

    assert await env.run(activity) == "answer"
    assert beats == []


async def test_outside_an_activity_the_call_runs_as_it_is() -> None:
    assert await heartbeating(asyncio.sleep(0, result=7)) == 7


def test_a_refused_agent_request_is_never_retried_by_the_workflow() -> None:
    assert AgentEndpointRejected("HTTP 401").type in (AGENT_RETRY.non_retryable_error_types or ())
