"""`mailroom approve NAME` resolves NAME against every thread on the server, whatever its
status: a prefix unique among the open and completed threads may still fit a terminated
one, and is then refused as ambiguous, never guessed."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.cli_errors import CliError
from orchestrator.thread_ids import resolve_thread
from tests.support import wait_for


async def test_a_terminated_thread_counts_when_a_name_is_resolved(
    dev_server: WorkflowEnvironment, task_queue: str, unique: str
) -> None:
    client = dev_server.client
    open_id = f"thread-support@mailroom.local-c0de0{unique[:11]}"
    terminated_id = f"thread-sales@mailroom.local-c0de1{unique[:11]}"
    for workflow_id in (open_id, terminated_id):  # no worker serves the queue: they stay put
        await client.start_workflow("ThreadWorkflow", id=workflow_id, task_queue=task_queue)
    await client.get_workflow_handle(terminated_id).terminate("a test")
    gateway = TemporalThreadGateway(client, task_queue=task_queue)

    async def both_listed() -> bool:
        return await gateway.thread_ids() == sorted([open_id, terminated_id])

    await wait_for(both_listed, what="both threads in visibility")
    with pytest.raises(CliError, match="matches 2 threads"):
        await resolve_thread(gateway, "c0de")
    assert await resolve_thread(gateway, "c0de0") == open_id
