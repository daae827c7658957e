"""The coordinator under a stream of messages that never pauses (issue 18): it still
continues as new, each run far below Temporal's history limits, and every workflow item gets
its instruction. On the dev server (a real server's continue-as-new and signal delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.test_coordinator import Coordinating, coordinator, holder, stage_of
from use_cases.coordinator import ItemRef, StartProcessing, Verdict

THRESHOLD = 100  # events per run before the coordinator continues as new
HOLDERS = 320
BATCHES = 4


async def test_a_stream_that_never_pauses_still_continues_as_new_and_every_item_gets_go(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    env = dev_server
    given = {"continue_as_new_after_events": THRESHOLD}
    async with coordinator(env, task_queue, **given) as coordinating:
        holders: list[WorkflowHandle[Any, str]] = []
        for batch in range(BATCHES):  # each batch starts while the one before is answered
            per_batch = HOLDERS // BATCHES
            numbers = range(batch * per_batch, (batch + 1) * per_batch)
            holders += await asyncio.gather(
                *(holder(env, coordinating, f"item-{n}", lane=f"lane-{n}") for n in numbers)
            )
        for handle in holders:
            await wait_for(_holding_of(handle), timeout=120, what="every item's go")
        lengths = await _history_lengths(env.client, coordinating)
        # runs continued as new while the stream went on (not only once it stopped), each
        # ending within a bounded drain of the threshold however long the stream lasts
        assert len(lengths) >= 3, lengths
        assert max(lengths) < 5 * THRESHOLD, lengths


def _holding_of(handle: WorkflowHandle[Any, str]) -> Callable[[], Awaitable[bool]]:
    async def holding() -> bool:
        return await stage_of(handle) == "holding"

    return holding


async def _history_lengths(client: Client, coordinating: Coordinating) -> list[int]:
    """Events in each run of the coordinator, newest first (following continue-as-new back)."""
    lengths: list[int] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(coordinating.workflow_id, run_id=run_id)
        history = await handle.fetch_history()
        lengths.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return lengths
        run_id = started.continued_execution_run_id


async def test_daemons_asking_while_the_coordinator_continues_as_new_all_get_their_answer(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    """Update-with-start while runs close (continue-as-new): no daemon's request is lost
    or answered with an error."""
    given = {"continue_as_new_after_events": THRESHOLD}
    async with coordinator(dev_server, task_queue, **given) as coordinating:
        at_once = asyncio.Semaphore(40)

        async def ask(n: int) -> Verdict:
            request = StartProcessing(item=ItemRef(item_id=f"d-{n}"), lane=f"imap:{n}")
            async with at_once:
                return (await coordinating.request_lane(request)).verdict

        verdicts = await asyncio.gather(*(ask(n) for n in range(HOLDERS)))
        assert set(verdicts) == {Verdict.GO}
        shown = await coordinating.view()
        assert shown is not None and shown.total_items == HOLDERS and shown.runs > 1
