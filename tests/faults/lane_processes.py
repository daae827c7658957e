"""The processes the coordinator fault test kills: a lane-holding daemon and a worker serving
test holder workflows, each run as `python -m tests.faults.lane_processes …` with the
deployment's MAILROOM_* environment (so they reach its coordinator).

    daemon ITEM LANE LEASE   ask for LANE every LEASE/3 s (wait in line), printing each verdict
    worker QUEUE             serve tests/workflows/lane_holder.py's LaneHolderWorkflow on QUEUE
"""

from __future__ import annotations

import asyncio
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from activities.coordinator import CoordinatorActivities
from orchestrator.bootstrap import coordinator, data_converter
from orchestrator.settings import Settings
from tests.workflows.lane_holder import LaneHolderWorkflow
from use_cases.coordinator import ItemRef, StartProcessing


async def connect() -> Client:
    settings = Settings()  # the deployment's, as the mailroom processes it runs beside
    return await Client.connect(settings.temporal_target, data_converter=data_converter(settings))


async def daemon(item_id: str, lane: str, lease_seconds: float) -> None:
    """An adapter daemon's loop: asking again renews the lease while holding, and keeps the
    place in line while queued."""
    coordinating = coordinator(Settings(), await connect())
    asked = StartProcessing(
        item=ItemRef(item_id=item_id, kind="fault-daemon"),
        lane=lane,
        wait=True,
        lease_seconds=lease_seconds,
    )
    while True:
        answer = await coordinating.request_lane(asked)
        print(f"verdict {answer.verdict.value}", flush=True)
        await asyncio.sleep(lease_seconds / 3)


async def worker(queue: str) -> None:
    client = await connect()
    signals = CoordinatorActivities(coordinator(Settings(), client))
    async with Worker(
        client,
        task_queue=queue,
        workflows=[LaneHolderWorkflow],
        activities=[signals.coordinator_signal],
    ):
        print(f"holder worker {queue} ready", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    match argv:
        case ["daemon", item_id, lane, lease]:
            asyncio.run(daemon(item_id, lane, float(lease)))
        case ["worker", queue]:
            asyncio.run(worker(queue))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
