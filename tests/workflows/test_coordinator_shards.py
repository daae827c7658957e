"""Lanes over three coordinators (MAILROOM_COORDINATOR_SHARDS=3), on the dev server: each lane
is still held by one item at a time, a workflow item's renewals reach its lane's shard, and
the view lists every shard's items."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.coordinator import CoordinatorActivities
from adapters.outbound.sharded_coordinator import ShardedCoordinator
from adapters.outbound.temporal_coordinator import TemporalCoordinator
from tests.support import wait_for
from tests.workflows.lane_holder import LET_GO, Holding, LaneHolderWorkflow
from use_cases.coordinator import (
    COORDINATOR_QUEUE,
    START_PROCESSING,
    STOP_PROCESSING,
    UPDATE,
    ItemRef,
    ItemUpdate,
    StartProcessing,
    StopProcessing,
    Verdict,
)
from use_cases.lanes import CoordinatorInput, coordinator_id
from workflows.coordinator import CoordinatorWorkflow

LANES = ["imap:a", "imap:b", "imap:d"]  # shards 0, 2 and 1 of 3


@asynccontextmanager
async def sharded(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[ShardedCoordinator]:
    prefix = f"{task_queue}-"
    one = TemporalCoordinator(
        env.client,
        f"{prefix}{COORDINATOR_QUEUE}",
        workflow_id=coordinator_id(prefix),
        start_input=CoordinatorInput(),
    )
    coordinating = ShardedCoordinator.over(one, 3)
    async with Worker(
        env.client,
        task_queue=one.queue,
        workflows=[CoordinatorWorkflow, LaneHolderWorkflow],
        activities=[CoordinatorActivities(coordinating).coordinator_signal],
    ):
        try:
            yield coordinating
        finally:
            for shard in coordinating.shards:
                with contextlib.suppress(RPCError):
                    await env.client.get_workflow_handle(shard.workflow_id).terminate("over")


def asking(item_id: str, lane: str) -> StartProcessing:
    return StartProcessing(item=ItemRef(item_id=item_id, kind="imap-daemon"), lane=lane, wait=True)


async def test_each_lane_has_one_holder_and_the_view_lists_every_shard(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    async with sharded(dev_server, task_queue) as coordinating:
        for lane in LANES:
            first = await coordinating.request_lane(asking(f"first-{lane}", lane))
            second = await coordinating.request_lane(asking(f"second-{lane}", lane))
            assert (first.verdict, second.verdict) == (Verdict.GO, Verdict.QUEUED)
        shown = await coordinating.view()
        assert shown is not None and shown.total_items == 6
        assert [lane.lane for lane in shown.lanes] == sorted(LANES)
        opened = [await s.view() for s in coordinating.shards]
        assert all(v is not None and v.total_items == 2 for v in opened)


async def test_a_workflow_item_holds_a_lane_on_its_shard_and_lets_it_go(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    async with sharded(dev_server, task_queue) as coordinating:
        handle = await dev_server.client.start_workflow(
            LaneHolderWorkflow.run,
            Holding(item_id="order-1", lane="imap:b", lease_seconds=3.0),
            id=f"{task_queue}-holder",
            task_queue=coordinating.shards[0].queue,
        )
        await wait_for(lambda: _stage_is(handle, "holding"), what="the holder holding")
        await wait_for(lambda: _renewed_past(coordinating, 4.0), timeout=30, what="renewals")
        held = await coordinating.shards[2].view()  # imap:b's shard
        assert held is not None and held.lanes[0].holders == ["order-1"]
        await handle.signal(LET_GO)
        assert await handle.result() == "done"
        shown = await coordinating.view()
        assert shown is not None and shown.total_items == 0


async def test_a_renewal_from_another_worker_reaches_the_shard_of_the_lane_held_now(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    """Activities run on any worker: this worker sent the item's messages for its first lane
    (shard 0); another worker asked for its second lane (shard 2); this worker's renewal
    must still reach shard 2, or the lease lapses under a holder that renews."""
    async with sharded(dev_server, task_queue) as this_worker:
        other_worker = ShardedCoordinator(this_worker.shards)
        await _send(this_worker, START_PROCESSING, asking("order-1", "imap:a"))
        await _send(this_worker, STOP_PROCESSING, StopProcessing(item_id="order-1", lane="imap:a"))
        await _send(other_worker, START_PROCESSING, asking("order-1", "imap:b"))
        await wait_for(lambda: _progress_on_shard_2(this_worker, ""), what="imap:b held")
        renewal = ItemUpdate(item_id="order-1", progress="renewed")
        await _send(this_worker, UPDATE, renewal)
        await wait_for(lambda: _progress_on_shard_2(this_worker, "renewed"), what="renewal")


async def _send(coordinating: ShardedCoordinator, name: str, message: Any) -> None:
    await coordinating.signal(name, message.model_dump(mode="json"))


async def _progress_on_shard_2(coordinating: ShardedCoordinator, progress: str) -> bool:
    """order-1 holds imap:b on its shard, its progress `progress` (set by a renewal)."""
    shown = await coordinating.shards[2].view()
    held = shown.items.get("order-1") if shown is not None else None
    return held is not None and held.processing and held.progress == progress


async def _stage_is(handle: WorkflowHandle[Any, str], stage: str) -> bool:
    return bool(await handle.query("stage") == stage)


async def _renewed_past(coordinating: ShardedCoordinator, seconds: float) -> bool:
    """The item is still holding `seconds` after it was granted a 3 s lease: renewals by
    UPDATE (which names no lane) found its shard."""
    shown = await coordinating.shards[2].view()
    if shown is None or "order-1" not in shown.items:
        return False
    item = shown.items["order-1"]
    if item.lease_until is None:
        return False
    return item.processing and (item.lease_until - item.since).total_seconds() > seconds
