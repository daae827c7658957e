"""What a log line says about the mail it concerns: `thread_id` and `flow`, derived from the
workflow the line comes from (its id names its thread, and a child flow's names the flow;
an inline flow is the thread's MailroomFlow search attribute), so a Loki query by thread
finds the thread's, its flows' and their activities' lines without every call passing them."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import workflow

from use_cases.threading import thread_of
from workflows.search_attributes import FLOW_ATTRIBUTE

# The SDK's workflow logger adds the run's whole `workflow.Info` to a record's extra under
# this key when asked (full_workflow_info_on_extra): read here, never rendered.
WORKFLOW_INFO = "workflow_info"


def add_thread_context(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    info: Any = event.pop(WORKFLOW_INFO, None)
    workflow_id = event.get("workflow_id")
    found = thread_of(workflow_id) if isinstance(workflow_id, str) else None
    if found is None:
        return event
    thread_id, flow = found
    event.setdefault("thread_id", thread_id)
    if flow is None and isinstance(info, workflow.Info):
        flow = info.typed_search_attributes.get(FLOW_ATTRIBUTE) or None
    if flow is not None:
        event.setdefault("flow", flow)
    return event
