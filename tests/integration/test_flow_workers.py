"""A worker per registered flow, on its own queue, tuned by the flow's settings."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestrator.bootstrap import bootstrap
from orchestrator.flow_workers import start_flow_workers
from orchestrator.flows import flow_named
from tests.stack import stack_settings
from tests.support import wait_for


async def pollers(client: Client, queue: str) -> int:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return len(described.pollers)


async def test_a_flow_worker_polls_its_own_queue_with_its_flows_tuning(
    dev_server: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_DIGEST_MAX_CONCURRENT_ACTIVITIES", "3")
    monkeypatch.setenv("MAILROOM_DIGEST_MAX_CACHED_WORKFLOWS", "7")
    digest = flow_named("digest")
    assert digest is not None
    client = dev_server.client
    wiring = bootstrap(stack_settings(tmp_path / "data", client, task_queue))
    async with AsyncExitStack() as stack:
        (worker,) = await start_flow_workers(wiring, client, stack, [digest])
        config = worker.config()
        queue = digest.queue_for(wiring.settings.queue_prefix)
        assert (config["task_queue"], config["max_concurrent_activities"]) == (queue, 3)
        assert config["max_cached_workflows"] == 7
        await wait_for(lambda: pollers(client, queue), what="a poller on the digest's queue")
