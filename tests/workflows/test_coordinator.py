"""The coordinator (issue 18) under the time-skipping server: workflow items holding lanes
with `held_lane`, leases lapsing, an operator's release, the idle timeout, continue-as-new
under 500 concurrent registrations; and daemons asking by update-with-start on the dev
server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.coordinator import CoordinatorActivities
from adapters.outbound.temporal_coordinator import TemporalCoordinator
from tests.support import wait_for
from tests.workflows.lane_holder import LET_GO, ClockWorkflow, Holding, LaneHolderWorkflow
from use_cases.coordinator import (
    COORDINATOR_QUEUE,
    DEREGISTER,
    REGISTER,
    SEED_LIST_ITEMS,
    START_PROCESSING,
    CoordinatorView,
    Deregister,
    ItemRef,
    Register,
    StartProcessing,
    StopProcessing,
    Verdict,
)
from use_cases.lanes import CoordinatorInput, coordinator_id
from workflows.coordinator import CoordinatorWorkflow


class Coordinating(TemporalCoordinator):
    """The test's coordinator, and the item workflows the test started."""

    started: list[str]


@asynccontextmanager
async def coordinator(
    env: WorkflowEnvironment, task_queue: str, **given: Any
) -> AsyncIterator[Coordinating]:
    prefix = f"{task_queue}-"
    coordinating = Coordinating(
        env.client,
        f"{prefix}{COORDINATOR_QUEUE}",
        workflow_id=coordinator_id(prefix),
        start_input=CoordinatorInput(**given),
    )
    coordinating.started = [coordinating.workflow_id]
    async with Worker(
        env.client,
        task_queue=coordinating.queue,
        workflows=[CoordinatorWorkflow, LaneHolderWorkflow, ClockWorkflow],
        activities=[CoordinatorActivities(coordinating).coordinator_signal],
    ):
        try:
            yield coordinating
        finally:
            await _terminated(env, coordinating.started)


async def _terminated(env: WorkflowEnvironment, workflow_ids: list[str]) -> None:
    """Nothing of the test left running: a workflow whose timer fires with no worker left
    would stall time skipping for the tests after it (the server waits for its task)."""
    for workflow_id in workflow_ids:
        with contextlib.suppress(RPCError):  # closed already, or never started
            await env.client.get_workflow_handle(workflow_id).terminate("test over")


async def holder(
    env: WorkflowEnvironment, coordinating: Coordinating, item_id: str, **fields: Any
) -> WorkflowHandle[Any, str]:
    workflow_id = f"{coordinating.workflow_id}-{item_id}"
    coordinating.started.append(workflow_id)
    return await env.client.start_workflow(
        LaneHolderWorkflow.run,
        Holding(item_id=item_id, **fields),
        id=workflow_id,
        task_queue=coordinating.queue,
    )


async def skip(env: WorkflowEnvironment, coordinating: Coordinating, seconds: float) -> None:
    """Let `seconds` pass on the time-skipping server."""
    workflow_id = f"{coordinating.workflow_id}-clock-{len(coordinating.started)}"
    coordinating.started.append(workflow_id)
    await env.client.execute_workflow(
        ClockWorkflow.run, seconds, id=workflow_id, task_queue=coordinating.queue
    )


async def stage_of(handle: WorkflowHandle[Any, str]) -> str:
    stage: str = await handle.query("stage")
    return stage


async def view_of(coordinating: TemporalCoordinator) -> CoordinatorView:
    shown = await coordinating.view()
    assert shown is not None
    return shown


async def test_of_two_contending_items_one_goes_and_the_other_is_refused_or_queued(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    async with coordinator(env, task_queue) as coordinating:
        first = await holder(env, coordinating, "a")
        await wait_for(lambda: _is(first, "holding"), what="a holds the lane")
        refused = await holder(env, coordinating, "b", wait=False)
        assert await refused.result() == "refused"
        queued = await holder(env, coordinating, "c")
        await wait_for(lambda: _queued(coordinating, "c"), what="c waits in line")
        await first.signal(LET_GO)
        assert await first.result() == "done"
        await wait_for(lambda: _is(queued, "holding"), what="c holds the lane after a")
        await queued.signal(LET_GO)
        assert await queued.result() == "done"
        shown = await view_of(coordinating)
        assert shown.total_items == 0 and shown.lanes == []


async def _is(handle: WorkflowHandle[Any, str], stage: str) -> bool:
    return await stage_of(handle) == stage


async def _queued(coordinating: TemporalCoordinator, item_id: str) -> bool:
    item = (await view_of(coordinating)).items.get(item_id)
    return item is not None and item.queued_for is not None


def ask(item_id: str, **fields: Any) -> dict[str, Any]:
    ref = ItemRef(item_id=item_id, kind="test-daemon")
    return StartProcessing.model_validate({"item": ref, "lane": "budget:cc", **fields}).model_dump(
        mode="json"
    )


async def test_a_holder_that_stops_renewing_loses_the_lane_and_the_next_goes(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    async with coordinator(env, task_queue) as coordinating:
        await coordinating.signal(START_PROCESSING, ask("dead", lease_seconds=30))
        waiting = await holder(env, coordinating, "next")
        await wait_for(lambda: _queued(coordinating, "next"), what="next waits in line")
        await skip(env, coordinating, 45)  # past the dead holder's lease
        await wait_for(lambda: _is(waiting, "holding"), what="next holds the lane")
        shown = await view_of(coordinating)
        assert "dead" not in shown.items and shown.items["next"].processing
        await waiting.signal(LET_GO)
        assert await waiting.result() == "done"


async def test_an_operator_release_takes_the_lane_from_its_holder_for_the_next(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    async with coordinator(env, task_queue) as coordinating:
        stuck = await holder(env, coordinating, "stuck")
        await wait_for(lambda: _is(stuck, "holding"), what="stuck holds the lane")
        waiting = await holder(env, coordinating, "next")
        await wait_for(lambda: _queued(coordinating, "next"), what="next waits in line")
        await coordinating.release("stuck")
        assert await stuck.result() == "lost"
        await wait_for(lambda: _is(waiting, "holding"), what="next holds the lane")
        await waiting.signal(LET_GO)
        assert await waiting.result() == "done"


async def _status(coordinating: TemporalCoordinator) -> WorkflowExecutionStatus | None:
    described = await coordinating.client.get_workflow_handle(coordinating.workflow_id).describe()
    return described.status


async def test_the_coordinator_completes_only_when_idle_with_no_item_and_a_new_item_revives_it(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    """On the dev server, in real seconds (skipping time stalled the time-skipping server
    after other tests had skipped time)."""
    env = dev_server
    async with coordinator(env, task_queue, idle_timeout_seconds=1) as coordinating:
        item = Register(item=ItemRef(item_id="kept"), lease_seconds=4)
        await coordinating.signal(REGISTER, item.model_dump(mode="json"))
        first = await _run_id(coordinating)
        last = await _result(env, coordinating, first)
        # completed only once the item's lease had lapsed (4 s), not after the idle second
        described = await env.client.get_workflow_handle(
            coordinating.workflow_id, run_id=first
        ).describe()
        assert described.close_time is not None
        assert described.close_time - described.start_time >= timedelta(seconds=4)
        assert (last.total_items, last.signals_handled) == (0, 1)
        assert await coordinating.view() is None

        item = Register(item=ItemRef(item_id="leaving"), lease_seconds=600)
        await coordinating.signal(REGISTER, item.model_dump(mode="json"))
        second = await _run_id(coordinating)
        assert second != first  # a new run, started by the signal
        await coordinating.signal(DEREGISTER, Deregister(item_id="leaving").model_dump())
        last = await _result(env, coordinating, second)  # idle a second after it left
        assert (last.total_items, last.signals_handled) == (0, 2)


async def _result(
    env: WorkflowEnvironment, coordinating: Coordinating, run_id: str
) -> CoordinatorView:
    handle = env.client.get_workflow_handle(
        coordinating.workflow_id, run_id=run_id, result_type=CoordinatorView
    )
    last: CoordinatorView = await asyncio.wait_for(handle.result(), timeout=30)
    return last


async def _run_id(coordinating: TemporalCoordinator) -> str:
    described = await coordinating.client.get_workflow_handle(coordinating.workflow_id).describe()
    return described.run_id


async def _counted(coordinating: TemporalCoordinator, handled: int) -> bool:
    shown = await coordinating.view()
    return shown is not None and shown.signals_handled >= handled


async def _is_status(coordinating: TemporalCoordinator, status: WorkflowExecutionStatus) -> bool:
    return await _status(coordinating) == status


async def _running_view(coordinating: TemporalCoordinator) -> CoordinatorView | None:
    return await coordinating.view()


async def test_500_concurrent_registrations_are_all_kept_across_continue_as_new(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    """On the dev server: a real server refuses a continue-as-new while signals it has not
    yet shown the run are waiting, which is what keeps them (the time-skipping server took
    30 s here now and then)."""
    env = dev_server
    async with coordinator(env, task_queue, continue_as_new_after_events=100) as coordinating:
        at_once = asyncio.Semaphore(50)

        async def register(n: int) -> None:
            message = Register(item=ItemRef(item_id=f"item-{n}"), lease_seconds=3_600)
            async with at_once:
                await coordinating.signal(REGISTER, message.model_dump(mode="json"))

        await asyncio.gather(*(register(n) for n in range(500)))
        shown = await wait_for(
            lambda: _all_registered(coordinating, 500), timeout=60, what="500 registrations"
        )
        assert shown.total_items == 500 and shown.signals_handled == 500
        assert shown.runs > 1
        seed: CoordinatorView = await coordinating.client.get_workflow_handle(
            coordinating.workflow_id
        ).query(SEED_LIST_ITEMS, result_type=CoordinatorView)
        assert seed.total_items == 500


async def _all_registered(coordinating: TemporalCoordinator, count: int) -> CoordinatorView | None:
    shown = await coordinating.view()
    # the run that took the last of them has continued as new (once the burst paused)
    carried = shown is not None and shown.signals_handled >= count and shown.runs > 1
    return shown if carried else None


async def test_daemons_ask_by_update_with_start_and_the_second_goes_after_the_first_lets_go(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    async with coordinator(dev_server, task_queue) as coordinating:
        first = await coordinating.request_lane(_daemon("imap-1"))
        assert first.verdict is Verdict.GO and first.lease_until is not None
        refused = await coordinating.request_lane(_daemon("imap-2"))
        assert refused.verdict is Verdict.NO_GO
        queued = await coordinating.request_lane(_daemon("imap-2", wait=True))
        assert queued.verdict is Verdict.QUEUED and queued.position == 1
        let_go = await coordinating.let_go(StopProcessing(item_id="imap-1", lane="imap:inbox"))
        assert let_go.verdict is Verdict.RELEASED
        second = await coordinating.request_lane(_daemon("imap-2", wait=True))
        assert second.verdict is Verdict.GO


def _daemon(item_id: str, *, wait: bool = False) -> StartProcessing:
    ref = ItemRef(item_id=item_id, kind="imap-daemon")
    return StartProcessing(item=ref, lane="imap:inbox", wait=wait)


async def test_an_item_whose_workflow_is_gone_is_forgotten_and_its_lane_goes_on(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env = time_skipping_env
    async with coordinator(env, task_queue) as coordinating:
        ghost = ItemRef(item_id="ghost", workflow_id=f"{task_queue}-no-such-workflow")
        message = StartProcessing(item=ghost, lane="budget:cc", lease_seconds=3_600)
        await coordinating.signal(START_PROCESSING, message.model_dump(mode="json"))
        await wait_for(lambda: _counted(coordinating, 1), what="the ghost's request")
        waiting = await holder(env, coordinating, "next")
        # its GO cannot be delivered: the ghost is deregistered and the lane is free
        await wait_for(lambda: _is(waiting, "holding"), what="next holds the lane")
        assert "ghost" not in (await view_of(coordinating)).items
        await waiting.signal(LET_GO)
        assert await waiting.result() == "done"
