"""What `mailroom status` reads from Temporal's visibility: the running threads, counted by
the stage their search attribute shows (workflows/search_attributes.py), and the most recent
workflow of ours that failed, timed out or was terminated, with the reason its last event
gives. Counting and one listed row cost the server the same whatever the number of threads."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client
from temporalio.service import RPCError

from adapters.concurrently import every
from adapters.outbound.visibility_query import quoted
from orchestrator.status_view import LastError, ThreadCounts
from use_cases.digest import ESCALATED
from use_cases.flows import AWAITING_APPROVAL
from workflows.routing import NEEDS_HUMAN

THREAD_WORKFLOW = "ThreadWorkflow"
FAILED = ("Failed", "TimedOut", "Terminated")


def running_threads(task_queue: str) -> str:
    return (
        f"WorkflowType = {quoted(THREAD_WORKFLOW)} AND TaskQueue = {quoted(task_queue)} "
        'AND ExecutionStatus = "Running"'
    )


async def thread_counts(client: Client, task_queue: str, *, stages: bool) -> ThreadCounts:
    """Running threads on `task_queue`; by stage only where the threads publish it."""
    running = running_threads(task_queue)
    if not stages:
        return ThreadCounts(open=await _count(client, running))
    opened = await _count(client, running)
    try:
        escalated, approval, human = await every(
            _count(client, f"{running} AND MailroomStage = {quoted(stage)}")
            for stage in (ESCALATED, AWAITING_APPROVAL, NEEDS_HUMAN)
        )
    except RPCError:  # a cluster without MailroomStage registered (`mailroom doctor` says so)
        return ThreadCounts(open=opened)
    return ThreadCounts(opened, escalated, approval, human)


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def last_error(client: Client, task_queues: Sequence[str]) -> LastError | None:
    """The latest to close among the threads and flows that failed, timed out or were
    terminated (visibility lists closed workflows newest first)."""
    queues = ", ".join(quoted(q) for q in task_queues)
    statuses = ", ".join(quoted(s) for s in FAILED)
    query = f"TaskQueue IN ({queues}) AND ExecutionStatus IN ({statuses})"
    async for found in client.list_workflows(query, limit=1):
        status = found.status.name if found.status else "closed"
        message = await _reason(client, found.id, found.run_id)
        return LastError(found.id, found.workflow_type, status, found.close_time, message)
    return None


async def _reason(client: Client, workflow_id: str, run_id: str) -> str:
    """Why the run closed, from its last event: the failure's message, the termination's
    reason; empty when the history cannot be read (it may be deleted by retention)."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        maximum_page_size=1,
    )
    try:
        response = await client.workflow_service.get_workflow_execution_history_reverse(request)
    except RPCError:
        return ""
    events = response.history.events
    return _event_reason(events[0]) if events else ""


def _event_reason(event: HistoryEvent) -> str:
    if event.HasField("workflow_execution_failed_event_attributes"):
        return event.workflow_execution_failed_event_attributes.failure.message
    if event.HasField("workflow_execution_terminated_event_attributes"):
        return event.workflow_execution_terminated_event_attributes.reason
    if event.HasField("workflow_execution_timed_out_event_attributes"):
        return "timed out"
    return ""
