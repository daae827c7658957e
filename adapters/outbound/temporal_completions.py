"""ThreadCompletions from Temporal: when each thread's latest run closed (DescribeWorkflow
without a run id), a few at a time. A thread reopened since it completed runs again and
holds its blobs; one Temporal no longer knows (past the namespace's retention) is GONE. A
closed or gone thread whose flow still runs is open: a child flow is abandoned when its
thread completes (COMPLETE_THREAD's grace ran out) and still reads the thread's mail; its
root is the thread (visibility's RootWorkflowId)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from adapters.concurrently import every
from adapters.outbound.visibility_query import quoted
from use_cases.retention import GONE

LOOKUPS_AT_ONCE = 16
RUNNING = {WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW}


class TemporalThreadCompletions:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._at_once = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def completed_at(self, workflow_ids: Sequence[str]) -> dict[str, datetime | None]:
        closed = await every(self._closed(wid) for wid in workflow_ids)
        return dict(zip(workflow_ids, closed, strict=True))

    async def _closed(self, workflow_id: str) -> datetime | None:
        async with self._at_once:
            try:
                described = await self.client.get_workflow_handle(workflow_id).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None if await self._flow_running(workflow_id) else GONE
                raise
            if described.status is None or described.status in RUNNING:
                return None
            return None if await self._flow_running(workflow_id) else described.close_time

    async def _flow_running(self, workflow_id: str) -> bool:
        query = f"RootWorkflowId = {quoted(workflow_id)} AND ExecutionStatus = 'Running'"
        return (await self.client.count_workflows(query)).count > 0
