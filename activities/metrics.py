"""What activities count, through the activity's metric meter (issue 21): one function per
event, so a call site is one line. The names, kinds and labels are the catalogue's
(use_cases/metric_catalogue.py); the SDK adds `namespace`, `task_queue`, `activity_type`.

Activities count each attempt that did it: an attempt that sent a mail, then timed out
before the server heard of it, and was retried, finds the mail in the sender's log
(`already_sent`) and counts nothing; an agent's answer given to an attempt that then timed
out is counted again by the retry (an agent call is counted per call made, failed or not)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

from use_cases.flows import AgentUsage
from use_cases.mail import OutboundEmail, SendResult

Answer = TypeVar("Answer")


def _count(name: str, labels: dict[str, str] | None = None, value: int = 1) -> None:
    if activity.in_activity():  # an activity's method called directly (tests) counts nothing
        activity.metric_meter().create_counter(name).add(value, labels)


def mail_sent(mail: OutboundEmail, result: SendResult) -> None:
    """A mail that went out now (not one found sent before, nor one held back)."""
    if result.suppressed:
        _count("mailroom_automatic_mail_suppressed", {"reason": "cap"})
    elif not result.already_sent:
        _count("mailroom_replies_sent", {"kind": mail.kind})


async def agent_call(agent: str, call: Awaitable[Answer]) -> Answer:
    """`call`, counted by outcome with its latency and the tokens its answer says it used.
    agent: the agent's task (classify, triage...), a name from code."""
    started = time.monotonic()
    try:
        answer = await call
    except BaseException:
        _agent_call_ended(agent, "failed", started)
        raise
    _agent_call_ended(agent, "ok", started)
    usage = getattr(answer, "usage", None)
    if isinstance(usage, AgentUsage) and usage.total_tokens:
        _count("mailroom_agent_tokens", {"agent": agent}, usage.total_tokens)
    return answer


def _agent_call_ended(agent: str, outcome: str, started: float) -> None:
    _count("mailroom_agent_calls", {"agent": agent, "outcome": outcome})
    if not activity.in_activity():
        return
    meter = activity.metric_meter()
    latency = meter.create_histogram_float("mailroom_agent_call_seconds", unit="s")
    latency.record(time.monotonic() - started, {"agent": agent})
