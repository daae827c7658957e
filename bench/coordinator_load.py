"""bench.coordinator's offered load: one pass of one path at one rate, open loop (request i
leaves at i/rate whatever came back), against the coordinator or the path's baseline."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from adapters.outbound.sharded_coordinator import ShardedCoordinator
from adapters.outbound.temporal_coordinator import TemporalCoordinator
from bench.coordinator_peers import ECHO, PING, RECEIVED
from bench.report import Latency
from use_cases.coordinator import (
    START_PROCESSING,
    STOP_PROCESSING,
    ItemRef,
    StartProcessing,
    StopProcessing,
)

ANSWER_TIMEOUT = 10.0  # a request unanswered this long counts as lost
PER_WORKFLOW = 500  # baseline pairs per do-nothing workflow (Temporal caps updates per run)
INBOXES = 8
LEASE_SECONDS = 30.0


@dataclass
class Pass:
    offered: int
    answered: int
    lost: int  # no answer: timed out or refused (failed, by error)
    failed: dict[str, int]
    answered_rate: float  # answered / (first sent → last answered)
    lag: Latency


def pass_of(sent: dict[str, float], received: dict[str, float], failed: dict[str, int]) -> Pass:
    lags = [received[key] - at for key, at in sent.items() if key in received]
    span = max(received.values(), default=0.0) - min(sent.values(), default=0.0)
    return Pass(
        offered=len(sent),
        answered=len(lags),
        lost=len(sent) - len(lags),
        failed=failed,
        answered_rate=round(len(lags) / span, 1) if span > 0 else 0.0,
        lag=Latency.of(lags),
    )


async def paced(
    rate: float, seconds: float, one: Callable[[int], Awaitable[None]]
) -> dict[str, int]:
    """one(i) for i in 0 … rate·seconds, each started at i/rate; the errors, by kind."""
    started = time.monotonic()
    tasks = []
    for i in range(max(1, round(rate * seconds))):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(asyncio.wait_for(one(i), ANSWER_TIMEOUT)))
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    return dict(Counter(error_kind(o) for o in outcomes if isinstance(o, BaseException)))


def error_kind(error: BaseException) -> str:
    """An RPC error by its status (RESOURCE_EXHAUSTED: Temporal's cap of in-flight updates
    per workflow, raised by the baseline; the coordinator's adapter asks again instead, so
    its requests time out), anything else by its type."""
    status = getattr(error, "status", None)
    return status.name if status is not None else type(error).__name__


async def daemon_pass(
    coord: TemporalCoordinator | ShardedCoordinator | None,
    client: Client,
    peers: str,
    rate: float,
    seconds: float,
    tag: str,
    *,
    lanes: int,
) -> Pass:
    """request_lane then let_go per daemon (coord None: two bare update-with-starts)."""
    sent: dict[str, float] = {}
    received: dict[str, float] = {}

    async def one(i: int) -> None:
        key = f"{tag}-{i}"
        sent[key] = time.time()
        if coord is None:
            await echo(client, peers, f"bench-echo-{tag}-{i // PER_WORKFLOW}", i)
            received[key] = time.time()
            await echo(client, peers, f"bench-echo-{tag}-{i // PER_WORKFLOW}", i)  # as let_go
            return
        lane = f"bench:{i % lanes}"
        item = ItemRef(item_id=key, kind="bench-daemon")
        asked = StartProcessing(item=item, lane=lane, lease_seconds=LEASE_SECONDS)
        await coord.request_lane(asked)
        received[key] = time.time()
        await coord.let_go(StopProcessing(item_id=key, lane=lane, deregister=True))

    failed = await paced(rate, seconds, one)
    return pass_of(sent, received, failed)


async def echo(client: Client, peers: str, workflow_id: str, i: int) -> None:
    """One bare update-with-start (an operation object serves one call only)."""
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        "BenchEchoWorkflow",
        id=workflow_id,
        task_queue=peers,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(ECHO, {"i": i}, start_workflow_operation=start)


async def signal_pass(
    coord: TemporalCoordinator | ShardedCoordinator | None,
    client: Client,
    peers: str,
    rate: float,
    seconds: float,
    tag: str,
) -> Pass:
    """StartProcessing + StopProcessing signals per workflow item, GO read back from the
    inboxes (coord None: a relay workflow's signal back)."""
    inboxes = [f"bench-inbox-{tag}-{k}" for k in range(INBOXES)]
    for inbox in inboxes:
        await client.start_workflow("BenchInboxWorkflow", id=inbox, task_queue=peers)
    sent: dict[str, float] = {}

    async def one(i: int) -> None:
        key, inbox = f"{tag}-{i}", inboxes[i % INBOXES]
        sent[key] = time.time()
        if coord is None:
            await client.start_workflow(
                "BenchEchoWorkflow",
                id=f"bench-relay-{tag}-{i // PER_WORKFLOW}",
                task_queue=peers,
                start_signal=PING,
                start_signal_args=[{"item_id": key, "inbox": inbox}],
            )
            return
        item = ItemRef(item_id=key, kind="bench-item", workflow_id=inbox)
        asked = StartProcessing(item=item, lane=key, lease_seconds=LEASE_SECONDS)
        await coord.signal(START_PROCESSING, asked.model_dump(mode="json"))
        stop = StopProcessing(item_id=key, lane=key, deregister=True)
        await coord.signal(STOP_PROCESSING, stop.model_dump(mode="json"))

    failed = await paced(rate, seconds, one)
    received = await read_inboxes(client, inboxes, len(sent))
    return pass_of(sent, received, failed)


async def read_inboxes(client: Client, inboxes: list[str], expected: int) -> dict[str, float]:
    """What the inboxes took, once all of it came or ANSWER_TIMEOUT passed."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        received: dict[str, float] = {}
        for inbox in inboxes:
            handle = client.get_workflow_handle(inbox)
            received.update(await handle.query(RECEIVED, result_type=dict[str, float]))
        if len(received) >= expected or time.monotonic() > deadline:
            for inbox in inboxes:
                await client.get_workflow_handle(inbox).terminate("bench pass over")
            return received
        await asyncio.sleep(0.5)
