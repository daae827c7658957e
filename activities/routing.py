"""Which registered flow takes a thread: the registry's mailboxes first, then the agent's
classification among the registered flows' labels. An activity, so the choice (and the
registry the worker had) is recorded in the thread's history."""

from __future__ import annotations

from temporalio import activity

from activities.metrics import agent_call
from use_cases.flow_catalogue import FlowCatalogue, Route, RouteRequest
from use_cases.flows import ClassifyRequest
from use_cases.ports import Agent


class RoutingActivities:
    def __init__(self, agent: Agent, catalogue: FlowCatalogue) -> None:
        self.agent = agent
        self.catalogue = catalogue

    @activity.defn(name="flow_route")
    async def route(self, request: RouteRequest) -> Route:
        if request.flow is not None:
            entry = self.catalogue.named(request.flow)
            return Route(entry=entry, reason="asked" if entry else "not a registered flow")
        entry = self.catalogue.by_mailbox(request.mailbox)
        if entry is not None:
            return Route(entry=entry, reason="mailbox")
        asked = ClassifyRequest(
            mailbox=request.mailbox,
            subject=request.subject,
            text=request.text,
            labels=self.catalogue.labels,
        )
        classification = await agent_call("route", self.agent.classify(asked))
        return Route(
            entry=self.catalogue.by_label(classification.flow),
            reason=classification.reason,
            usage=classification.usage,
        )
