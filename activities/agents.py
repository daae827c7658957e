"""Agent calls, only ever from activities: timeouts and retries are Temporal's, and output
is a validated pydantic model (a malformed answer raises and is retried, never trusted).
An agent over HTTP takes seconds: the call heartbeats, so a dead worker's call is retried
elsewhere within the heartbeat timeout (workflows/agent_calls.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity

from activities.heartbeat import heartbeating
from activities.metrics import agent_call
from use_cases.flows import (
    Classification,
    ClassifyRequest,
    ExtractRequest,
    KbAnswer,
    PurchaseRequest,
    Triage,
)
from use_cases.ports import Agent

Answer = TypeVar("Answer")


class AgentActivities:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @activity.defn(name="agent_classify")
    async def classify(self, request: ClassifyRequest) -> Classification:
        return await agent_call(
            "classify", _valid(Classification.model_validate, self.agent.classify(request))
        )

    @activity.defn(name="agent_extract_request")
    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        answer = self.agent.extract_request(request)
        return await agent_call("extract_request", _valid(PurchaseRequest.model_validate, answer))

    @activity.defn(name="agent_triage")
    async def triage(self, request: ClassifyRequest) -> Triage:
        return await agent_call("triage", _valid(Triage.model_validate, self.agent.triage(request)))

    @activity.defn(name="agent_answer_from_kb")
    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        answer = self.agent.answer_from_kb(request)
        return await agent_call("answer_from_kb", _valid(KbAnswer.model_validate, answer))


async def _valid(validate: Callable[[object], Answer], call: Awaitable[object]) -> Answer:
    """The agent's answer, heartbeating while it comes; a malformed one raises (a failed
    call, retried)."""
    return validate(await heartbeating(call))
