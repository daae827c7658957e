"""Which registered flow takes a thread: the registry's mailboxes first, then the agent's
classification among the registered flows' labels. An activity, so the choice (and the
registry the worker had) is recorded in the thread's history."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from activities.metrics import agent_call
from use_cases.flow_catalogue import FlowCatalogue, FlowSettings, Route, RouteRequest
from use_cases.flows import ClassifyRequest
from use_cases.models import FlowMode
from use_cases.ports import Agent

SettingsOf = Callable[[str], FlowSettings]


class RoutingActivities:
    def __init__(
        self, agent: Agent, catalogue: FlowCatalogue, settings_of: SettingsOf | None = None
    ) -> None:
        """`settings_of`: this worker's settings of a flow (FlowSettingsActivities.of), for
        a route that asks for them."""
        self.agent = agent
        self.catalogue = catalogue
        self.settings_of = settings_of

    @activity.defn(name="flow_route")
    async def route(self, request: RouteRequest) -> Route:
        return self._with_settings(request, await self._route(request))

    async def _route(self, request: RouteRequest) -> Route:
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

    def _with_settings(self, request: RouteRequest, route: Route) -> Route:
        """The settings of an inline flow, when asked and run as the thread's local
        activity: then this worker is the one that runs the flow in the thread's run. A
        route run as an activity (the agent not in process: any worker of the thread's queue
        may take it) or to a child flow (which may run on another worker) brings none: the
        flow asks for its own."""
        entry = route.entry
        if entry is None or entry.mode is not FlowMode.INLINE or self.settings_of is None:
            return route
        if not request.with_settings or not activity.info().is_local:
            return route
        return route.model_copy(update={"settings": self.settings_of(entry.name)})
