"""A thread's workflow task that fails after its forward by local activity went out is run
again with the mail that came meanwhile: the forward it then makes holds more mail than the
first, and none of it is lost (MAIL_TO_CHILD_BY_ACTIVITY)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.signals import SignalActivities
from adapters.agents.rules import RuleBasedAgent
from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.temporal_signals import TemporalWorkflowSignals
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from tests.workflows.test_mail_to_child_once import CHILD, PROCUREMENT, _completed, _questions
from use_cases.flows import ExtractRequest, PurchaseRequest
from use_cases.forwarding import MailForward
from use_cases.models import ThreadState


class ServerSignals:
    """Signals applied as the Temporal server applies them: a request id already applied to
    a workflow is acknowledged and dropped (the time-skipping test server does not)."""

    def __init__(self, signals: TemporalWorkflowSignals) -> None:
        self.signals = signals
        self.applied: set[tuple[str, str]] = set()

    async def signal(self, workflow_id: str, name: str, arg: Any, *, request_id: str) -> bool:
        if (workflow_id, request_id) in self.applied:
            return True
        delivered = await self.signals.signal(workflow_id, name, arg, request_id=request_id)
        self.applied.add((workflow_id, request_id))
        return delivered


class GatedAgent(RuleBasedAgent):
    """The offline agent, which reads the budget only once `opened`: the child closes (and
    its last report comes) after the thread's task that runs again has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = asyncio.Event()

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        if "EUR 200" in request.text:
            await self.opened.wait()
        return await super().extract_request(request)


class TaskFailsOnce:
    """The thread's forward: the first goes out, then more mail comes to the thread and the
    thread's workflow task fails (its answer cannot be read), so the task runs again."""

    def __init__(self, signals: ServerSignals, more_mail: Any, meanwhile: Any = None) -> None:
        self.forward = SignalActivities(signals).forward_to_flow
        self.more_mail = more_mail
        self.meanwhile = meanwhile  # async (workflow_id) -> None, awaited before the retry
        self.failed = False

    @activity.defn(name="forward_to_flow")
    async def forward_to_flow(self, forward: MailForward) -> dict[str, object]:
        if self.failed and self.meanwhile is not None:
            await self.meanwhile(forward.workflow_id)
        outcome = await self.forward(forward)
        if self.failed:
            return outcome.model_dump()
        self.failed = True
        await self.more_mail()
        return {"delivered": "an answer the thread cannot read"}


async def test_mail_that_came_while_a_failed_task_forwarded_is_not_lost(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    harness: list[Harness] = []

    async def budget() -> None:
        await harness[0].send(2, text="Budget is EUR 200.")

    forwards = TaskFailsOnce(
        ServerSignals(TemporalWorkflowSignals(time_skipping_env.client)), budget
    )
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=PROCUREMENT,
        flow_config=CHILD,
        thread_activities=[forwards.forward_to_flow],
    ) as h:
        harness.append(h)
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        await wait_for(lambda: _questions(h, 1), what="the first question")
        await h.send(1, text="I will ask my manager about the money.")
        state = await wait_for(lambda: _completed(h), what="the order")
        assert forwards.failed, "the thread's task did not fail"
        assert state.stage == "confirmed" and state.flows_started == 1
        orders = SqliteLedger(h.settings.data_dir / "ledger.sqlite").purchase_orders()
        assert [o.total for o in orders] == [200]


async def test_mail_that_came_while_a_failed_task_forwarded_to_a_child_that_closed_goes_its_own_way(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    harness: list[Harness] = []

    async def another_order() -> None:
        await harness[0].send(2, text="Please buy 2 monitors too, budget EUR 400.")

    agent = GatedAgent()

    async def child_closes(workflow_id: str) -> None:
        agent.opened.set()  # after the task that runs again has begun
        await time_skipping_env.client.get_workflow_handle(workflow_id).result()

    signals = ServerSignals(TemporalWorkflowSignals(time_skipping_env.client))
    forwards = TaskFailsOnce(signals, another_order, child_closes)
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=PROCUREMENT,
        flow_config=CHILD,
        agent=agent,
        thread_activities=[forwards.forward_to_flow],
    ) as h:
        harness.append(h)
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        await wait_for(lambda: _questions(h, 1), what="the first question")
        # taken by the child, which orders and closes; the task that forwarded it is run
        # again with the second order, and its forward of both finds no run open
        await h.send(1, text="Budget is EUR 200.")

        async def second_flow() -> ThreadState | None:
            state = await h.state()
            return state if state.flows_started == 2 else None

        state = await wait_for(second_flow, what="a flow for the second order")
        assert forwards.failed, "the thread's task did not fail"
        assert state.flow_workflow_id == f"{h.thread_id}-procurement-2"
        orders = SqliteLedger(h.settings.data_dir / "ledger.sqlite").purchase_orders()
        assert [o.total for o in orders].count(200) == 1  # the first order, once
