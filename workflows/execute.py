"""`execute_workflow`: run a flow as a child workflow or inline, behind one handle (seed 003).

As a child, the flow has its own history and id (`<thread id>-<flow>-<n>`), runs on its
flow's task queue (served by that flow's workers), and its parent close policy is ABANDON,
deliberately: the thread continues-as-new and is completed by operators, and a purchase
waiting for approval must survive both; the child reports its progress by signalling the
thread's workflow id, which reaches whichever run is current. Inline, the very same flow
object runs as a task inside the thread's workflow; its activities still run on its queue.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.flow_catalogue import FlowEntry
    from use_cases.flows import ApprovalDecision, FlowProgress, FlowStart
    from use_cases.models import CompleteRequest, HumanReply, NewMessage
    from use_cases.thread_labels import flow_summary

from workflows.flow import FlowRuntime, Reporter
from workflows.flow_workflow import FlowWorkflow
from workflows.mail_to_child import forward_mail
from workflows.versions import MAIL_TO_CHILD_BY_ACTIVITY, changed


class FlowHandle(Protocol):
    async def deliver(self, message: NewMessage) -> None: ...
    async def decide(self, decision: ApprovalDecision) -> None: ...
    async def complete(self, request: CompleteRequest | None = None) -> None: ...
    async def human_reply(self, reply: HumanReply) -> None: ...
    async def forget(self, address: str) -> None: ...


class InlineFlow:
    def __init__(self, runtime: FlowRuntime) -> None:
        self.runtime = runtime
        self.task: asyncio.Task[FlowProgress] = asyncio.create_task(runtime.run_flow())

    async def deliver(self, message: NewMessage) -> None:
        self.runtime.deliver(message)

    async def decide(self, decision: ApprovalDecision) -> None:
        self.runtime.decide(decision)

    async def complete(self, request: CompleteRequest | None = None) -> None:
        self.runtime.request_complete(request)

    async def human_reply(self, reply: HumanReply) -> None:
        await self.runtime.human_reply(reply)

    async def forget(self, address: str) -> None:
        self.runtime.forget(address)

    async def result(self) -> FlowProgress:
        return await self.task


class ChildFlow:
    """A flow running as a child workflow; also re-attached after the thread continued-as-new."""

    def __init__(self, workflow_id: str, history_format: int = 1) -> None:
        self.workflow_id = workflow_id
        self.history_format = history_format  # the thread run's (workflows/versions.py)
        self.handle = workflow.get_external_workflow_handle(workflow_id)

    # Addressed by method reference: every flow's child workflow is a FlowWorkflow.
    async def deliver(self, message: NewMessage) -> None:
        """Raises FailureError (ChildClosed by activity) when the child had closed."""
        if changed(MAIL_TO_CHILD_BY_ACTIVITY, self.history_format):
            await forward_mail(self.workflow_id, [message])
            return
        await self.handle.signal(FlowWorkflow.new_message, message)

    async def deliver_all(self, messages: Sequence[NewMessage]) -> None:
        """Several mails in one signal, however much mail queued meanwhile. By local
        activity a forward costs the thread a marker in its current workflow task; before,
        a signal command, its `ExternalWorkflowExecutionSignaled` event and the workflow
        task the server adds for that."""
        if changed(MAIL_TO_CHILD_BY_ACTIVITY, self.history_format):
            await forward_mail(self.workflow_id, messages)
            return
        await self.handle.signal(FlowWorkflow.new_messages, list(messages))

    async def decide(self, decision: ApprovalDecision) -> None:
        signal = FlowWorkflow.approve if decision.approved else FlowWorkflow.reject
        await self.handle.signal(signal, decision)

    async def complete(self, request: CompleteRequest | None = None) -> None:
        await self.handle.signal(FlowWorkflow.complete_thread, request or CompleteRequest())

    async def human_reply(self, reply: HumanReply) -> None:
        await self.handle.signal(FlowWorkflow.human_reply, reply)

    async def forget(self, address: str) -> None:
        await self.handle.signal(FlowWorkflow.forget_person, address)


async def execute_workflow(
    flow: FlowEntry,
    *,
    args: FlowStart,
    as_child: bool = False,
    workflow_id: str | None = None,
    report: Reporter,
    **child_options: Any,
) -> FlowHandle:
    """Start `flow` as a child workflow (`as_child=True`) or inline; either way the caller
    gets a handle to forward messages, decisions and completion to the same flow code."""
    child_id = workflow_id or f"{args.thread_id}-{flow.name}"
    if as_child:
        await workflow.start_child_workflow(
            flow.workflow_type,
            args,
            id=child_id,
            task_queue=flow.task_queue,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=flow_summary(flow.name, args.first.subject),
            **child_options,
        )
        return ChildFlow(child_id, args.history_format)
    return execute_inline(flow, args, report)


def execute_inline(flow: FlowEntry, start: FlowStart, report: Reporter) -> InlineFlow:
    return InlineFlow(runtime_class(flow.runtime)(start, report))


@cache
def runtime_class(path: str) -> type[FlowRuntime]:
    """A flow's runtime from its registry entry (`module:Class`): registry data recorded
    in the thread's history, so a recorded thread finds the class it ran."""
    module, _, name = path.partition(":")
    found = getattr(importlib.import_module(module), name, None)
    if not (isinstance(found, type) and issubclass(found, FlowRuntime)):
        raise TypeError(f"{path} is not a flow runtime")
    return found
