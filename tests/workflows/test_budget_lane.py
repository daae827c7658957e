"""Procurement with a monthly budget per cost centre (time-skipping, child flows, the real
coordinator): requests on one budget are checked and ordered one at a time, so two that
together exceed it make one order; approval is waited for off the lane and the budget is
checked again once approved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from adapters.outbound.ledger import SqliteLedger
from orchestrator.workflow_runner import WORKFLOW_INTERCEPTORS, WORKFLOW_RUNNER
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.coordinator import COORDINATOR_QUEUE
from use_cases.flows import ApprovalDecision, FlowConfig, FlowMode
from use_cases.models import ThreadState, ThreadStatus
from workflows.coordinator import CoordinatorWorkflow
from workflows.procurement import ProcurementWorkflow

MAILBOX = "procurement@mailroom.local"
BUDGET = 1_000.0
AUTO_APPROVED_UP_TO = 700.0


def flow_config(mode: FlowMode, hurried: bool) -> FlowConfig:
    return FlowConfig(
        modes={"procurement": mode},
        approvers=("boss@corp.example",),
        auto_approve_limit=AUTO_APPROVED_UP_TO,
        budget_per_cost_centre=BUDGET,
    )


SETTINGS: dict[str, object] = {"auto_approve_limit": AUTO_APPROVED_UP_TO}  # the policy activity's


@pytest.fixture
def mode() -> FlowMode:
    return FlowMode.CHILD  # the lane's instructions reach a child flow's workflow


@pytest.fixture
async def coordinated(
    harness: Harness, time_skipping_env: WorkflowEnvironment
) -> AsyncIterator[Harness]:
    """The harness with the coordinator's queue served, as every worker process does."""
    async with Worker(
        time_skipping_env.client,
        task_queue=f"{harness.settings.queue_prefix}{COORDINATOR_QUEUE}",
        workflows=[CoordinatorWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=WORKFLOW_INTERCEPTORS,
    ):
        yield harness


def another_thread(h: Harness) -> Harness:
    return Harness(h.env, h.gateway, h.sender, h.mailbox, h.settings)


def request(amount: int, cost_centre: str) -> str:
    return f"Please order 2 office chairs, budget EUR {amount}, cost centre {cost_centre}."


async def finished(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED else None


async def ended(h: Harness) -> ThreadState:
    state: ThreadState = await wait_for(lambda: finished(h), what="the request's end")
    return state


async def replays(h: Harness) -> None:
    """The flow's history (both lane sections, the approval between) replays deterministically."""
    child_id = (await h.state()).flow_workflow_id
    assert child_id is not None
    child = h.env.client.get_workflow_handle(child_id)
    replayer = Replayer(
        workflows=[ProcurementWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(
        await child.fetch_history(), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure


def ordered(h: Harness) -> list[float | None]:
    return [
        po.total for po in SqliteLedger(h.settings.data_dir / "ledger.sqlite").purchase_orders()
    ]


def mails_to(h: Harness, purpose: str, requester: str) -> list[str]:
    return [m.text for m in h.mails(purpose) if m.to == (requester,)]


async def test_two_requests_exceeding_one_budget_together_make_one_order(
    coordinated: Harness,
) -> None:
    first, second = coordinated, another_thread(coordinated)
    await asyncio.gather(
        first.send(0, from_addr="bob@corp.example", text=request(600, "4711")),
        second.send(0, from_addr="carol@corp.example", text=request(600, "4711")),
    )
    ends = [await ended(h) for h in (first, second)]
    assert sorted(str(s.stage) for s in ends) == ["confirmed", "denied"]
    assert ordered(coordinated) == [600.0]
    denied_to = "bob@corp.example" if ends[0].stage == "denied" else "carol@corp.example"
    (denial,) = mails_to(coordinated, "denied", denied_to)
    assert "this request (EUR 600.00) would take cost centre 4711 over its monthly budget" in denial
    assert "EUR 600.00 already ordered this month, budget EUR 1,000.00" in denial


async def test_requests_on_different_cost_centres_are_both_ordered(coordinated: Harness) -> None:
    first, second = coordinated, another_thread(coordinated)
    await asyncio.gather(
        first.send(0, from_addr="bob@corp.example", text=request(600, "4711")),
        second.send(0, from_addr="carol@corp.example", text=request(600, "5520")),
    )
    ends = [await ended(h) for h in (first, second)]
    assert [s.stage for s in ends] == ["confirmed", "confirmed"]
    assert ordered(coordinated) == [600.0, 600.0]


async def test_a_request_awaiting_approval_leaves_the_budget_to_others_and_is_checked_again(
    coordinated: Harness,
) -> None:
    waiting, meanwhile = coordinated, another_thread(coordinated)
    await waiting.send(0, from_addr="bob@corp.example", text=request(800, "4711"))
    await wait_for(lambda: waiting.at_stage("awaiting_approval"), what="the approval wait")
    # the lane is free while a person decides: a small request on the budget goes through
    await meanwhile.send(0, from_addr="carol@corp.example", text=request(300, "4711"))
    state = await wait_for(lambda: finished(meanwhile), what="the small request's end")
    assert state.stage == "confirmed" and ordered(coordinated) == [300.0]

    await waiting.gateway.decide(waiting.thread_id, ApprovalDecision(approved=True, by="cli"))
    state = await wait_for(lambda: finished(waiting), what="the approved request's end")
    assert state.stage == "denied" and ordered(coordinated) == [300.0]
    (told,) = mails_to(coordinated, "denied", "bob@corp.example")
    assert told.startswith("Your purchase request was approved, but we cannot order it now")
    assert "EUR 300.00 already ordered this month, budget EUR 1,000.00" in told
    await replays(waiting)


async def test_an_approved_request_that_still_fits_is_ordered(coordinated: Harness) -> None:
    await coordinated.send(0, from_addr="bob@corp.example", text=request(800, "4711"))
    await wait_for(lambda: coordinated.at_stage("awaiting_approval"), what="the approval wait")
    decision = ApprovalDecision(approved=True, by="cli")
    await coordinated.gateway.decide(coordinated.thread_id, decision)
    state = await wait_for(lambda: finished(coordinated), what="the order")
    assert state.stage == "confirmed" and ordered(coordinated) == [800.0]


async def test_an_inline_flow_checks_the_budget_without_the_lane(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """A thread takes no coordinator signal: inline, the budget is checked off the lane."""
    inline = flow_config(FlowMode.INLINE, hurried=False).model_copy(
        update={"agent_in_process": True, "outbox_in_process": True}
    )
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=inline,
        auto_approve_limit=AUTO_APPROVED_UP_TO,
    ) as first:
        await first.send(0, from_addr="bob@corp.example", text=request(600, "4711"))
        assert (await wait_for(lambda: finished(first), what="the order")).stage == "confirmed"
        second = another_thread(first)
        await second.send(0, from_addr="carol@corp.example", text=request(600, "4711"))
        assert (await wait_for(lambda: finished(second), what="the denial")).stage == "denied"
        assert ordered(first) == [600.0]
