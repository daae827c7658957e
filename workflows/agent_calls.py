"""Calling the agent from workflow code: a local activity when the agent is in-process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

from workflows.sending import LOCAL_RETRY_THRESHOLD

with workflow.unsafe.imports_passed_through():
    from use_cases.models import FlowConfig

AGENT_TIMEOUT = timedelta(seconds=60)
# An agent over HTTP heartbeats while it waits for the answer (activities/heartbeat.py): a
# worker killed mid-call has its call retried on another worker after this, not after
# AGENT_TIMEOUT. Well over a heartbeat's interval (a fifth of it), so a busy worker is
# not taken for a dead one.
AGENT_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# The endpoint refused the request (adapters/agents/openai_compat.py: AgentEndpointRejected,
# a 4xx such as a wrong key or model): the same answer every time, so never retried.
AGENT_REJECTED = "AgentEndpointRejected"
# An agent that keeps answering nonsense or is down is retried a few times, then a human
# takes over. A busy endpoint's Retry-After replaces the backoff for that attempt.
AGENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=[AGENT_REJECTED],
)

Request = TypeVar("Request")
Answer = TypeVar("Answer")

# The in-process agent (rules and a knowledge base) answers in microseconds: as a local
# activity it runs inside the current workflow task instead of costing a scheduled activity
# and one more workflow task through the server. Measured on the support flow at half the
# maximum rate: p50 396 → 60 ms, p99 932 → 483 ms, server CPU -13 %. A remote agent (an LLM
# over HTTP, seconds per answer) stays a normal activity, timed and retried by the server
# without holding a workflow task.
# An in-process agent answers in milliseconds; a local activity holds its workflow task, so
# one that hangs must give up soon (the flow then falls back) rather than after a minute.
LOCAL_AGENT_TIMEOUT = timedelta(seconds=10)


class AgentUnavailable(Exception):
    """The agent kept failing (AGENT_RETRY): the flow falls back, never guesses."""


async def ask_agent(
    method: Callable[[Any, Request], Awaitable[Answer]],
    request: Request,
    config: FlowConfig,
    task_queue: str | None = None,
) -> Answer:
    """Ask the agent: in this worker when it is in-process, else on `task_queue` (a flow's
    own queue; None: the workflow's)."""
    try:
        if config.agent_in_process:
            return await workflow.execute_local_activity_method(
                method,
                request,
                start_to_close_timeout=LOCAL_AGENT_TIMEOUT,
                retry_policy=AGENT_RETRY,
                local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            )
        return await workflow.execute_activity_method(
            method,
            request,
            start_to_close_timeout=AGENT_TIMEOUT,
            heartbeat_timeout=AGENT_HEARTBEAT_TIMEOUT,
            retry_policy=AGENT_RETRY,
            task_queue=task_queue,
        )
    # An activity's last failure arrives as ActivityError; a local activity's, measured with
    # this SDK, as the activity's own ApplicationError (or a timeout), unwrapped.
    except (ActivityError, ApplicationError, TemporalTimeout) as exc:
        raise AgentUnavailable(str(exc)) from exc
