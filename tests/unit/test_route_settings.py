"""The route brings the settings of the inline flow it picks only where the flow will run
in the same worker (history format 3: activities/routing.py): asked, run as the thread's
local activity, and to a flow that runs inline. Otherwise the flow asks for its own."""

from __future__ import annotations

import dataclasses
from typing import cast

import pytest
from temporalio.testing import ActivityEnvironment

from activities.flow_settings import FlowSettingsActivities
from activities.routing import RoutingActivities
from use_cases.flow_catalogue import FlowCatalogue, FlowEntry, RouteRequest
from use_cases.flows import Classification, ClassifyRequest
from use_cases.models import FlowConfig, FlowMode
from use_cases.ports import Agent

WORKER = FlowConfig(support_team="ann@corp.example", kb_confidence=0.9)
OWN = {"support": {"greeting": "Hello"}}


def catalogue(mode: FlowMode) -> FlowCatalogue:
    entry = FlowEntry(
        name="support",
        workflow_type="SupportFlow",
        task_queue="q-support",
        mode=mode,
        mailboxes=("support",),
    )
    return FlowCatalogue(flows=(entry,))


def request(*, asked: bool = True, mailbox: str = "support@mailroom.local") -> RouteRequest:
    return RouteRequest(mailbox=mailbox, subject="Noise", text="It hums.", with_settings=asked)


def environment(*, local: bool) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, is_local=local)
    return env


class NoFlowFits:
    """An agent whose classification names no registered flow."""

    async def classify(self, request: ClassifyRequest) -> Classification:
        return Classification(flow="nothing", confidence=0.5, reason="no flow fits")


def routing(mode: FlowMode = FlowMode.INLINE) -> RoutingActivities:
    settings_of = FlowSettingsActivities(WORKER, OWN).of
    return RoutingActivities(cast(Agent, NoFlowFits()), catalogue(mode), settings_of)


async def test_a_local_route_to_an_inline_flow_brings_the_workers_settings_when_asked() -> None:
    route = await environment(local=True).run(routing().route, request())
    assert route.entry is not None and route.entry.name == "support"
    assert route.settings is not None
    assert route.settings.config == WORKER
    assert route.settings.own == OWN["support"]
    # what the flow's own activity would have answered in the same worker
    assert route.settings == FlowSettingsActivities(WORKER, OWN).of("support")


@pytest.mark.parametrize(
    ("local", "mode", "asked"),
    [
        (False, FlowMode.INLINE, True),  # run on another task queue: another worker's settings
        (True, FlowMode.CHILD, True),  # a child flow may run on another worker
        (True, FlowMode.INLINE, False),  # a thread of an earlier history format
    ],
    ids=["not-local", "child-flow", "not-asked"],
)
async def test_a_route_brings_no_settings_where_the_flow_may_not_run_in_this_worker(
    local: bool, mode: FlowMode, asked: bool
) -> None:
    route = await environment(local=local).run(routing(mode).route, request(asked=asked))
    assert route.entry is not None
    assert route.settings is None


async def test_a_route_to_no_flow_brings_no_settings() -> None:
    mail = request(mailbox="info@mailroom.local")  # no flow by mailbox: the agent is asked
    route = await environment(local=True).run(routing().route, mail)
    assert route.entry is None
    assert route.settings is None
