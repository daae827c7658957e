"""A lane's holder killed (issue 18): its lease lapses and the next in line gets go, so a
dead daemon or a dead worker never keeps a lane. Real processes on a real Temporal server:
`mailroom worker` runs the coordinator; the holders are tests/faults/lane_processes.py."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle

from orchestrator.bootstrap import coordinator
from tests.faults.deployment import Child, Deployment
from tests.support import wait_for
from tests.workflows.lane_holder import Holding, LaneHolderWorkflow

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3.0
# the lease, the coordinator's timer and one workflow task or renewal on 2 busy cores
MARGIN_SECONDS = 7.0
Spawn = Callable[..., Child]  # spawn(name, *args): a lane_processes process


@pytest.fixture
def spawn(deployment: Deployment) -> Iterator[Spawn]:
    started: list[Child] = []

    def start(name: str, *args: str) -> Child:
        env = {**deployment.env, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "tests.faults.lane_processes", *args]
        child = Child(argv, env, deployment.root / f"{name}.log")
        started.append(child)
        return child

    yield start
    for child in started:
        child.stop()


async def said(child: Child, text: str, *, timeout: float = 60.0) -> None:
    await wait_for(lambda: text in child.log() or not child.alive, timeout=timeout, what=text)
    assert text in child.log(), f"{child.log_path.name} exited:\n{child.log()[-3000:]}"


async def test_a_killed_daemons_lane_goes_to_the_next_within_the_lease(
    deployment: Deployment, spawn: Spawn, tag: str
) -> None:
    await deployment.start_temporal()
    await deployment.start_worker()
    lane, lease = f"imap:{tag}", str(LEASE_SECONDS)
    first = spawn("daemon-first", "daemon", "first", lane, lease)
    await said(first, "verdict go")
    second = spawn("daemon-second", "daemon", "second", lane, lease)
    await said(second, "verdict queued")
    first.kill()
    killed_at = time.monotonic()
    await said(second, "verdict go", timeout=30)
    took = time.monotonic() - killed_at
    print(f"daemon SIGKILL: the next daemon got go {took:.1f}s after (lease {LEASE_SECONDS}s)")
    assert took <= LEASE_SECONDS + MARGIN_SECONDS, f"the next daemon got go {took:.1f}s after"


async def holding(handle: WorkflowHandle[LaneHolderWorkflow, str]) -> bool:
    return await handle.query(LaneHolderWorkflow.current_stage) == "holding"


async def queued_behind(deployment: Deployment, client: Client, lane: str) -> bool:
    settings = deployment.settings.model_copy(update={"queue_prefix": f"{deployment.task_queue}-"})
    shown = await coordinator(settings, client).view()
    lanes = {held.lane: held for held in shown.lanes} if shown else {}
    return lane in lanes and lanes[lane].holders == ["first"] and lanes[lane].queue == ["second"]


async def start_holder(
    client: Client, item_id: str, lane: str, queue: str
) -> WorkflowHandle[LaneHolderWorkflow, str]:
    return await client.start_workflow(
        LaneHolderWorkflow.run,
        Holding(item_id=item_id, lane=lane, lease_seconds=LEASE_SECONDS),
        id=f"{queue}-{item_id}",
        task_queue=queue,
    )


async def test_a_workflow_holder_whose_worker_died_loses_the_lane_to_the_next(
    deployment: Deployment, spawn: Spawn, tag: str
) -> None:
    client = await deployment.start_temporal()
    await deployment.start_worker()
    lane, dying, living = f"budget:{tag}", f"holders-a-{tag}", f"holders-b-{tag}"
    start = spawn  # one holder worker per queue, so killing one leaves the other
    first_worker = start("holder-worker-a", "worker", dying)
    second_worker = start("holder-worker-b", "worker", living)
    await said(first_worker, "ready")
    await said(second_worker, "ready")
    first = await start_holder(client, "first", lane, dying)
    await wait_for(lambda: holding(first), timeout=60, what="the first holder holding")
    second = await start_holder(client, "second", lane, living)
    await wait_for(lambda: queued_behind(deployment, client, lane), what="the second queued")
    first_worker.kill()
    killed_at = time.monotonic()
    await wait_for(lambda: holding(second), timeout=30, what="the second holder holding")
    took = time.monotonic() - killed_at
    print(f"holder's worker SIGKILL: the next holder held {took:.1f}s after")
    assert took <= LEASE_SECONDS + MARGIN_SECONDS, f"the next holder got go {took:.1f}s after"
    back = start("holder-worker-a-again", "worker", dying)
    await said(back, "ready")
    assert await first.result() == "lost"  # held_lane raised LaneLost on leaving
