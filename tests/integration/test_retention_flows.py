"""Retention asks Temporal whether a thread is done: a thread completed while a flow it
started still runs (its child, abandoned on completion: COMPLETE_THREAD gives a flow a grace
period, then the thread completes without it) is not done, or the purge would remove the
mail and attachments that flow still reads (issue 22). On a real dev server."""

from __future__ import annotations

import uuid
from datetime import datetime

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from adapters.outbound.temporal_completions import TemporalThreadCompletions
from tests.support import wait_for
from use_cases.retention import GONE


@workflow.defn(name="RetentionTestFlow")
class StillRunningFlow:
    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)


@workflow.defn(name="RetentionTestThread")
class ThreadLeavingItsFlow:
    @workflow.run
    async def run(self) -> None:
        await workflow.start_child_workflow(
            # by name, as below: a typed no-argument `run` here made a cold `mypy .` infer
            # ThreadWorkflow.run's handles elsewhere as Never (a mypy quirk)
            "RetentionTestFlow",
            id=f"{workflow.info().workflow_id}-flow",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )


async def test_a_thread_whose_flow_still_runs_is_not_done(
    dev_server: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_server.client
    thread_id = f"thread-{uuid.uuid4().hex}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ThreadLeavingItsFlow, StillRunningFlow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await client.execute_workflow("RetentionTestThread", id=thread_id, task_queue=task_queue)
        completions = TemporalThreadCompletions(client)

        async def open_for_its_flow() -> bool:  # once visibility has the flow (a moment)
            return await completions.completed_at([thread_id]) == {thread_id: None}

        await wait_for(open_for_its_flow, timeout=10, what="the thread open while its flow runs")

        flow = client.get_workflow_handle(f"{thread_id}-flow")
        await flow.signal(StillRunningFlow.finish)
        await flow.result()

    async def closed() -> datetime | None:  # visibility learns the flow closed a moment later
        return (await completions.completed_at([thread_id]))[thread_id]

    assert await wait_for(closed, what="the thread done once its flow is") != GONE
