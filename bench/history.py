"""When was a message *applied* in its workflow? Read from the workflow's history afterwards.

A signal is applied when the workflow task that delivered it to the workflow code completes:
the worker ran the signal handler and the server durably recorded the result. In the history
that is the first WorkflowTaskCompleted event after the WorkflowExecutionSignaled event, and
its `event_time` is stamped by the server's clock, the same wall clock the load clients read
on this machine. Reading histories after the run costs the measured system nothing while it
runs (unlike polling queries, which are workflow tasks on the same worker).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from adapters.outbound.payload_codec import EncryptionCodec

HISTORY_CONCURRENCY = 16


@dataclass
class WorkflowHistoryFacts:
    workflow_id: str
    applied: dict[str, float] = field(default_factory=dict)  # message_id → epoch seconds
    run_lengths: list[int] = field(default_factory=list)  # events per run, oldest first


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


def _signal_message_id(event: HistoryEvent, codec: PayloadCodec | None = None) -> str | None:
    payloads = event.workflow_execution_signaled_event_attributes.input.payloads
    if not payloads:
        return None
    payload = payloads[0]
    if isinstance(codec, EncryptionCodec):  # mailroom's stack seals them (issue 22)
        payload = codec.opened(payload)
    body = json.loads(payload.data)
    found = body.get("message_id") if isinstance(body, dict) else None
    return str(found) if found else None


def applied_in_run(
    events: Iterable[HistoryEvent], codec: PayloadCodec | None = None
) -> dict[str, float]:
    applied: dict[str, float] = {}
    waiting: list[str] = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            message_id = _signal_message_id(event, codec)
            if message_id is not None:
                waiting.append(message_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and waiting:
            at = _seconds(event)
            for message_id in waiting:
                applied.setdefault(message_id, at)
            waiting.clear()
    return applied


async def run_histories(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """The events of every run of `workflow_id`, oldest first: continued-as-new runs and the
    runs of a thread that completed and was reopened by later mail (a new run, not a
    continuation). Runs come from visibility; the latest run is read even before visibility
    lists it."""
    listed = [
        (execution.start_time, execution.run_id)
        async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'")
    ]
    run_ids: list[str | None] = [run_id for _, run_id in sorted(listed)]
    latest = await client.get_workflow_handle(workflow_id).describe()
    if latest.run_id not in run_ids:
        run_ids.append(latest.run_id)
    read: set[str | None] = set()
    runs: list[list[HistoryEvent]] = []
    while run_ids:
        run_id = run_ids.pop(0)
        read.add(run_id)
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = list(history.events)
        runs.append(events)
        # A run visibility does not list yet: follow continue-as-new back from what it does.
        previous = events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if previous and previous not in read and previous not in run_ids:
            run_ids.insert(0, previous)
    return runs


async def workflow_facts(client: Client, workflow_id: str) -> WorkflowHistoryFacts:
    """When each message of `workflow_id` was applied, over all its runs."""
    facts = WorkflowHistoryFacts(workflow_id)
    for events in await run_histories(client, workflow_id):
        facts.run_lengths.append(len(events))
        for message_id, at in applied_in_run(events, client.data_converter.payload_codec).items():
            facts.applied.setdefault(message_id, at)
    return facts


async def wait_applied(
    client: Client, expected: Mapping[str, Collection[str]], *, within: float
) -> dict[str, float]:
    """Applied times of the `expected` {workflow id: message ids}, once all are applied (or
    what there is after `within` seconds). Each round re-reads only the histories of threads
    still missing a message, so waiting on thousands of threads does not load the server."""
    missing = {wid: set(mids) for wid, mids in expected.items() if mids}
    applied: dict[str, float] = {}
    limit = asyncio.Semaphore(HISTORY_CONCURRENCY)

    async def one(workflow_id: str) -> WorkflowHistoryFacts:
        async with limit:
            return await workflow_facts(client, workflow_id)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while missing:
        for facts in await asyncio.gather(*(one(w) for w in missing)):
            applied.update(facts.applied)
            missing[facts.workflow_id] -= facts.applied.keys()
        missing = {wid: mids for wid, mids in missing.items() if mids}
        if not missing or loop.time() > deadline:
            break
        await asyncio.sleep(1.0)
    return applied
