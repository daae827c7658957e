"""Which registered flows a worker serves: the pollers Temporal saw on each flow's task
queue (DescribeTaskQueue, workflow and activity pollers). A flow whose queue nobody polls
takes mail that waits, silently, until a worker for it starts: `mailroom flows` and the
worker's start-up say so.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeTaskQueueResponse,
)
from temporalio.client import Client

from adapters.concurrently import every
from orchestrator.flow_spec import FlowSpec
from orchestrator.settings import Settings, parse_flow_modes
from use_cases.models import FlowMode


@dataclass(frozen=True)
class QueuePollers:
    """The workers Temporal saw polling a task queue lately (it forgets them minutes after
    they stop)."""

    task_queue: str
    workflow_pollers: int
    activity_pollers: int


@dataclass(frozen=True)
class FlowRow:
    """One line of `mailroom flows`."""

    name: str
    mode: FlowMode
    threaded: bool
    pollers: QueuePollers
    description: str = ""

    @property
    def served(self) -> bool:
        """A child flow needs workflow and activity pollers; an inline one runs in its
        thread's workflow and needs only its activities served."""
        needs_workflows = self.mode is FlowMode.CHILD or not self.threaded
        workflows_ok = self.pollers.workflow_pollers > 0 or not needs_workflows
        return workflows_ok and self.pollers.activity_pollers > 0


@dataclass(frozen=True)
class UnservedFlow:
    name: str
    task_queue: str
    threaded: bool = True

    @property
    def warning(self) -> str:
        waiting = "its mail waits" if self.threaded else "its scheduled and started runs wait"
        return (
            f"{self.name}: no worker polls {self.task_queue}: {waiting} until one starts "
            f"(mailroom worker --flows {self.name})"
        )


async def queue_pollers(client: Client, task_queue: str) -> QueuePollers:
    workflow, activity = await describe_queue(client, task_queue)
    return QueuePollers(
        task_queue, workflow_pollers=len(workflow.pollers), activity_pollers=len(activity.pollers)
    )


async def describe_queue(
    client: Client, task_queue: str, *, stats: bool = False
) -> tuple[DescribeTaskQueueResponse, DescribeTaskQueueResponse]:
    """The task queue's workflow and activity sides, asked at once (with its backlog's
    statistics when `stats`)."""
    workflow, activity = await every(
        client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
                report_stats=stats,
            )
        )
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    )
    return workflow, activity


def flow_modes(flows: Sequence[FlowSpec], settings: Settings) -> dict[str, FlowMode]:
    """Each flow's mode: its spec's, unless MAILROOM_FLOW_MODES names it."""
    given = parse_flow_modes(settings.flow_modes)  # checked against the registry
    return {f.name: FlowMode(given.get(f.name, f.mode)) for f in flows}


async def flow_rows(client: Client, flows: Sequence[FlowSpec], settings: Settings) -> list[FlowRow]:
    modes = flow_modes(flows, settings)
    prefix = settings.queue_prefix
    pollers = await every(queue_pollers(client, f.queue_for(prefix)) for f in flows)
    return [
        FlowRow(f.name, modes[f.name], f.threaded, seen, f.description)
        for f, seen in zip(flows, pollers, strict=True)
    ]


async def unserved_flows(
    client: Client, flows: Sequence[FlowSpec], settings: Settings, served: Collection[str] = ()
) -> list[UnservedFlow]:
    """The flows no worker serves. `served`: the task queues this process's own workers
    poll (left out: called right after they start, Temporal may not have seen them yet)."""
    others = [f for f in flows if f.queue_for(settings.queue_prefix) not in served]
    rows = await flow_rows(client, others, settings)
    return [UnservedFlow(r.name, r.pollers.task_queue, r.threaded) for r in rows if not r.served]
