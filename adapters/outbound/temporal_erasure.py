"""A thread's workflow executions deleted for erasure: every run of the thread (reopened and
continued-as-new runs are runs of its id) and of the flows it started (their root is the
thread), found through visibility and deleted with DeleteWorkflowExecution, which
terminates a run still going first. Temporal removes the history and visibility records
in the background, within seconds on the embedded server."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.visibility_query import quoted


class TemporalThreadErasure:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def executions_of(self, workflow_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(workflow id, run id) of every run of these threads and of their flows."""
        found: list[tuple[str, str]] = []
        for workflow_id in workflow_ids:
            literal = quoted(workflow_id)
            query = f"WorkflowId = {literal} OR RootWorkflowId = {literal}"
            async for execution in self.client.list_workflows(query):
                found.append((execution.id, execution.run_id))
        return sorted(set(found))

    async def delete(self, executions: Sequence[tuple[str, str]]) -> int:
        deleted = 0
        for workflow_id, run_id in executions:
            request = DeleteWorkflowExecutionRequest(
                namespace=self.client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
            try:
                await self.client.workflow_service.delete_workflow_execution(request)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # deleted meanwhile
                    raise
                continue
            deleted += 1
        return deleted
