"""Agent calls, only ever from activities: timeouts and retries are Temporal's, and output
is a validated pydantic model (a malformed answer raises and is retried, never trusted).
An agent over HTTP takes seconds: the call heartbeats, so a dead worker's call is retried
elsewhere within the heartbeat timeout (workflows/agent_calls.py)."""

from __future__ import annotations

from temporalio import activity

from activities.heartbeat import heartbeating
from use_cases.flows import (
    Classification,
    ClassifyRequest,
    ExtractRequest,
    KbAnswer,
    PurchaseRequest,
    Triage,
)
from use_cases.ports import Agent


class AgentActivities:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @activity.defn(name="agent_classify")
    async def classify(self, request: ClassifyRequest) -> Classification:
        return Classification.model_validate(await heartbeating(self.agent.classify(request)))

    @activity.defn(name="agent_extract_request")
    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        return PurchaseRequest.model_validate(
            await heartbeating(self.agent.extract_request(request))
        )

    @activity.defn(name="agent_triage")
    async def triage(self, request: ClassifyRequest) -> Triage:
        return Triage.model_validate(await heartbeating(self.agent.triage(request)))

    @activity.defn(name="agent_answer_from_kb")
    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        return KbAnswer.model_validate(await heartbeating(self.agent.answer_from_kb(request)))
