"""`execute_workflow`: run a flow as a child workflow or inline, behind one handle (seed 003).

As a child, the flow has its own history and id (`<thread id>-<flow>-<n>`) and its parent
close policy is ABANDON, deliberately: the thread continues-as-new and is completed by
operators, and a purchase waiting for approval must survive both; the child reports its
progress by signalling the thread's workflow id, which reaches whichever run is current.
Inline, the very same flow object runs as a task inside the thread's workflow.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.flows import ApprovalDecision, FlowName, FlowProgress, FlowStart
    from use_cases.models import CompleteRequest, HumanReply, NewMessage
    from use_cases.thread_labels import flow_summary, stage_details

from workflows.flow import FlowRuntime, Reporter
from workflows.procurement import ProcurementFlow
from workflows.reports import report_progress
from workflows.settled import OnceSettled
from workflows.support import SupportFlow

FLOW_PROGRESS = "FLOW_PROGRESS"
APPROVE = "APPROVE"
REJECT = "REJECT"
NEW_MESSAGE = "NEW_MESSAGE"
COMPLETE_THREAD = "COMPLETE_THREAD"
HUMAN_REPLY = "HUMAN_REPLY"
FLOW_PROGRESS_QUERY = "flow_progress"


class FlowHandle(Protocol):
    async def deliver(self, message: NewMessage) -> None: ...
    async def decide(self, decision: ApprovalDecision) -> None: ...
    async def complete(self, request: CompleteRequest | None = None) -> None: ...
    async def human_reply(self, reply: HumanReply) -> None: ...


class InlineFlow:
    def __init__(self, runtime: FlowRuntime) -> None:
        self.runtime = runtime
        self.task: asyncio.Task[FlowProgress] = asyncio.create_task(runtime.run())

    async def deliver(self, message: NewMessage) -> None:
        self.runtime.deliver(message)

    async def decide(self, decision: ApprovalDecision) -> None:
        self.runtime.decide(decision)

    async def complete(self, request: CompleteRequest | None = None) -> None:
        self.runtime.request_complete(request)

    async def human_reply(self, reply: HumanReply) -> None:
        await self.runtime.human_reply(reply)

    async def result(self) -> FlowProgress:
        return await self.task


class ChildFlow:
    """A flow running as a child workflow; also re-attached after the thread continued-as-new."""

    def __init__(self, workflow_id: str) -> None:
        self.handle = workflow.get_external_workflow_handle(workflow_id)

    async def deliver(self, message: NewMessage) -> None:
        await self.handle.signal(NEW_MESSAGE, message)

    async def decide(self, decision: ApprovalDecision) -> None:
        await self.handle.signal(APPROVE if decision.approved else REJECT, decision)

    async def complete(self, request: CompleteRequest | None = None) -> None:
        await self.handle.signal(COMPLETE_THREAD, request or CompleteRequest())

    async def human_reply(self, reply: HumanReply) -> None:
        await self.handle.signal(HUMAN_REPLY, reply)


class _FlowWorkflow:
    """Signal plumbing shared by the child-workflow wrappers of every flow."""

    runtime: FlowRuntime
    deliveries = 0
    _reports: OnceSettled[FlowProgress] | None = None

    async def _run_resumably(self, start: FlowStart) -> FlowProgress:
        """Run the flow; when it waits at a resumable point and this run has grown long,
        continue-as-new carrying its snapshot (a support conversation can go on for years)."""
        task = asyncio.create_task(self.runtime.run())
        # Rest only with no report in flight: waiting for one to be sent would let the flow
        # leave its resting point (an alarm, a completion) before continue-as-new.
        await workflow.wait_condition(
            lambda: task.done() or (self._should_rest(start) and self._reports_sent())
        )
        if task.done():
            # the thread has the last stage; a human reply that closed the flow was sent
            await workflow.wait_condition(
                lambda: self._reports_sent() and workflow.all_handlers_finished()
            )
            return task.result()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(start.model_copy(update={"resume": self.runtime.snapshot()}))

    def _should_rest(self, start: FlowStart) -> bool:
        if not (
            self.deliveries >= start.config.flow_messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        ):
            return False
        self.runtime.rest_requested = True  # pause at the next wait for mail
        return self.runtime.resumable

    def _reporter(self, start: FlowStart) -> Reporter:
        async def report(progress: FlowProgress) -> None:
            # The Web UI's current details: queried, never recorded.
            workflow.set_current_details(
                stage_details(start.thread_id, stage=progress.stage, flow=progress.flow)
            )
            if not start.parent_workflow_id:
                return
            if self._reports is None:  # the thread hears where the flow came to rest
                parent = start.parent_workflow_id
                self._reports = OnceSettled(
                    lambda: self.runtime.settled, lambda latest: _tell(parent, latest)
                )
            self._reports.offer(progress)

        return report

    def _reports_sent(self) -> bool:
        return self._reports is None or self._reports.sent

    @workflow.signal(name=NEW_MESSAGE)
    def new_message(self, message: NewMessage) -> None:
        self.deliveries += 1
        self.runtime.deliver(message)

    @workflow.signal(name=APPROVE)
    def approve(self, decision: ApprovalDecision) -> None:
        self.runtime.decide(decision)

    @workflow.signal(name=REJECT)
    def reject(self, decision: ApprovalDecision) -> None:
        self.runtime.decide(decision)

    @workflow.signal(name=COMPLETE_THREAD)
    def complete_thread(self, request: CompleteRequest) -> None:
        self.runtime.request_complete(request)

    @workflow.signal(name=HUMAN_REPLY)
    async def human_reply(self, reply: HumanReply) -> None:
        await self.runtime.human_reply(reply)

    @workflow.query(name=FLOW_PROGRESS_QUERY)
    def flow_progress(self) -> FlowProgress:
        return self.runtime.progress


@workflow.defn(name="ProcurementFlow")
class ProcurementWorkflow(_FlowWorkflow):
    @workflow.init
    def __init__(self, start: FlowStart) -> None:
        self.runtime = ProcurementFlow(start, self._reporter(start))

    @workflow.run
    async def run(self, start: FlowStart) -> FlowProgress:
        return await self._run_resumably(start)


@workflow.defn(name="SupportFlow")
class SupportWorkflow(_FlowWorkflow):
    @workflow.init
    def __init__(self, start: FlowStart) -> None:
        self.runtime = SupportFlow(start, self._reporter(start))

    @workflow.run
    async def run(self, start: FlowStart) -> FlowProgress:
        return await self._run_resumably(start)


async def _tell(thread_workflow_id: str, progress: FlowProgress) -> None:
    progress = progress.model_copy(update={"reporter": workflow.info().workflow_id})
    if not await report_progress(thread_workflow_id, FLOW_PROGRESS, progress):
        workflow.logger.info("thread %s did not take progress", thread_workflow_id)


FLOWS: dict[FlowName, type[FlowRuntime]] = {
    FlowName.PROCUREMENT: ProcurementFlow,
    FlowName.SUPPORT: SupportFlow,
}
CHILD_WORKFLOWS: dict[FlowName, Any] = {
    FlowName.PROCUREMENT: ProcurementWorkflow,
    FlowName.SUPPORT: SupportWorkflow,
}


async def execute_workflow(
    flow: FlowName,
    *,
    args: FlowStart,
    as_child: bool = False,
    workflow_id: str | None = None,
    report: Reporter,
    **child_options: Any,
) -> FlowHandle:
    """Start `flow` as a child workflow (`as_child=True`) or inline; either way the caller
    gets a handle to forward messages, decisions and completion to the same flow code."""
    if as_child:
        await workflow.start_child_workflow(
            CHILD_WORKFLOWS[flow].run,
            args,
            id=workflow_id or f"{args.thread_id}-{flow.value}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=flow_summary(flow.value, args.first.subject),
            **child_options,
        )
        return ChildFlow(workflow_id or f"{args.thread_id}-{flow.value}")
    return execute_inline(flow, args, report)


def execute_inline(flow: FlowName, start: FlowStart, report: Reporter) -> InlineFlow:
    return InlineFlow(FLOWS[flow](start, report))
