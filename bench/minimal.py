"""The baseline's workflow and worker: what bare Temporal costs for one signal-with-start.

    python -m bench.minimal --target HOST:PORT --task-queue Q

The workflow appends each NEW_MESSAGE payload to a list and waits forever: no activity, no
state model, no continue-as-new. `BenchAnswerWorkflow` also answers the mail queued since its
last answer with one local activity that does nothing: the worker's floor for a flow that
answers by mail (bench.ingest's answering baseline). The worker uses mailroom's data
converter (sealing) and runs workflows outside the sandbox as mailroom's does, in its own
process like `mailroom worker`. It also serves any other workflow type the same way (a
dynamic workflow), so `mailroom smtp` pointed at its task queue hands mail to threads that do
nothing: the cost of mailroom's SMTP front end alone.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.worker import UnsandboxedWorkflowRunner, Worker


@workflow.defn(name="BenchAppendWorkflow")
class AppendWorkflow:
    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    @workflow.signal(name="NEW_MESSAGE")
    def append(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: False)
        return len(self.payloads)


@activity.defn(name="bench_answer")
async def answer(mails: int) -> str:
    """The answer's Temporal machinery without its content (no agent, no MIME, no outbox)."""
    return f"answered {mails}"


@workflow.defn(name="BenchAnswerWorkflow")
class AnswerWorkflow:
    """The least a flow that answers by mail does: it takes the mail queued since its last
    answer and answers it with one local activity (sending is a side effect, so an activity;
    support's flow answers its queued mail together the same way), then waits for more."""

    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []

    @workflow.signal(name="NEW_MESSAGE")
    def append(self, payload: dict[str, Any]) -> None:
        self.queued.append(payload)

    @workflow.run
    async def run(self) -> int:
        while True:
            await workflow.wait_condition(lambda: bool(self.queued))
            taken, self.queued = self.queued, []
            await workflow.execute_local_activity(
                answer, len(taken), start_to_close_timeout=timedelta(seconds=30)
            )


@workflow.defn(dynamic=True)
class AnyThreadWorkflow:
    """Any workflow type (mailroom's ThreadWorkflow here): decodes and appends every signal's
    payload as the baseline's does, and waits forever."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    @workflow.signal(dynamic=True)
    def append(self, name: str, args: Sequence[RawValue]) -> None:
        converter = workflow.payload_converter()
        self.payloads.extend(converter.from_payload(a.payload, dict) for a in args)

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> int:
        await workflow.wait_condition(lambda: False)
        return len(self.payloads)


async def serve(
    target: str, task_queue: str, workflows: Sequence[type], activities: Sequence[Any] = ()
) -> None:
    """Serve `workflows` (and `activities`) on `task_queue` until SIGINT or SIGTERM (the
    bench stops it so)."""
    # mailroom's converter, sealing with the bench installation's key (MAILROOM_DATA_DIR of
    # the environment the bench gives it): the front-end pass's threads read mailroom's mail.
    # Imported here: bench.load and bench.bare_adapter import this module for its workflows'
    # references alone.
    from orchestrator.bootstrap import data_converter
    from orchestrator.services import freeze_startup_heap
    from orchestrator.settings import Settings

    client = await Client.connect(target, data_converter=data_converter(Settings()))
    # As mailroom's worker: out of the sandbox (which runs code and an import hook at every
    # activation) and with the start-up heap out of the collector's walks.
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Async activities, on the event loop, as mailroom's are.
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        print(f"worker {task_queue} ready", flush=True)
        await stop.wait()


def worker_main(prog: str, workflows: Sequence[type], activities: Sequence[Any] = ()) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--target", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.target, args.task_queue, workflows, activities))
    return 0


if __name__ == "__main__":
    sys.exit(
        worker_main(
            "python -m bench.minimal",
            [AppendWorkflow, AnswerWorkflow, AnyThreadWorkflow],
            activities=[answer],
        )
    )
