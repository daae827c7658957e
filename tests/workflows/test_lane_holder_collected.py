"""A workflow holding a lane, left in a stopped worker's cache, has its coroutine closed by
Python's garbage collector later, on whatever thread runs it then (sdk-python #494):
GeneratorExit at the lane's `yield`. Leaving the lane must then send nothing: no workflow
runs there, and a command made then could land in another workflow's activation (a CI run
showed the attempt: "Not in workflow event loop"). The coordinator takes the lane back when
its lease lapses; the run itself goes on by replay on another worker."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.lane_holder import LET_GO, Holding, LaneHolderWorkflow
from tests.workflows.test_coordinator_shards import _stage_is, sharded


async def test_a_held_lane_closed_as_the_collector_closes_it_sends_nothing(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    async with sharded(dev_server, task_queue) as coordinating:
        handle = await dev_server.client.start_workflow(
            LaneHolderWorkflow.run,
            Holding(item_id="order-1", lane="imap:b", collected=True),
            id=f"{task_queue}-holder",
            task_queue=coordinating.shards[0].queue,
        )
        await wait_for(lambda: _stage_is(handle, "holding"), what="the holder holding")
        await handle.signal(LET_GO)
        assert await handle.result() == "collected"
        shown = await coordinating.shards[2].view()  # imap:b's shard
        assert shown is not None  # no let-go sent: the lane still held, until its lease lapses
        assert [lane.holders for lane in shown.lanes] == [["order-1"]]
