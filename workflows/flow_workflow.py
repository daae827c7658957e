"""The child-workflow wrapper every flow shares: its signals, its reports to the thread,
and continue-as-new at a resting point. A flow's own module declares its workflow in four
lines (a named `@workflow.defn` subclass of `FlowWorkflow` that builds its runtime)."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.flows import ApprovalDecision, FlowProgress, FlowStart
    from use_cases.forwarding import REMEMBERED_DELIVERIES, delivery_key, remember_delivery
    from use_cases.models import CompleteRequest, HumanReply, NewMessage
    from use_cases.thread_labels import stage_details

from workflows.continue_as_new import should_continue_as_new
from workflows.flow import FlowRuntime, Reporter
from workflows.messages import (
    APPROVE,
    COMPLETE_THREAD,
    FLOW_PROGRESS,
    FLOW_PROGRESS_QUERY,
    FORGET_PERSON,
    HUMAN_REPLY,
    NEW_MESSAGE,
    NEW_MESSAGES,
    REJECT,
)
from workflows.reports import repeats_rest, report_progress
from workflows.search_attributes import forgotten_attributes
from workflows.settled import OnceSettled
from workflows.versions import REPEATED_REST_UNREPORTED, changed, known_format


class FlowWorkflow:
    """Signal plumbing shared by the child-workflow wrappers of every flow."""

    runtime: FlowRuntime
    deliveries = 0
    _reports: OnceSettled[FlowProgress] | None = None
    _told: FlowProgress | None = None  # the last report this run sent its thread
    _taken: list[str] | None = None  # delivery keys of the mail taken (use_cases/forwarding.py)

    async def run_resumably(self, start: FlowStart) -> FlowProgress:
        """Run the flow; when it waits at a resumable point and this run has grown long,
        continue-as-new carrying its snapshot (a support conversation can go on for years)."""
        known_format(start.history_format)
        self.deliveries += len(start.queued)  # mail that came with the start: as if forwarded
        task = asyncio.create_task(self.runtime.run_flow())
        per_run = start.config.flow_messages_per_run
        await workflow.wait_condition(
            lambda: (
                task.done()
                or should_continue_as_new(self.deliveries, per_run)
                or bool(self.runtime.forgetting.addresses)  # erased: rest without them
            )
        )
        if not task.done():
            self.runtime.rest_requested = True  # pause at the next wait for mail
            # Rest only with no report in flight: waiting for one to be sent would let the
            # flow leave its resting point (an alarm, a completion) before continue-as-new.
            await workflow.wait_condition(
                lambda: task.done() or (self.runtime.resumable and self._reports_sent())
            )
        if task.done():
            # the thread has the last stage; a human reply that closed the flow was sent
            await workflow.wait_condition(
                lambda: self._reports_sent() and workflow.all_handlers_finished()
            )
            return task.result()
        await workflow.wait_condition(workflow.all_handlers_finished)
        snapshot = self.runtime.snapshot().model_copy(update={"taken": self.taken})
        # its format kept; the mail that came with its start is in the snapshot's inbox
        following = start.model_copy(update={"resume": snapshot, "queued": ()})
        forgetting = self.runtime.forgetting
        if not forgetting.addresses:
            workflow.continue_as_new(following)
        following = forgetting.model(following)  # the next run without them (erasure)
        workflow.continue_as_new(
            following,
            search_attributes=forgotten_attributes(
                workflow.info().typed_search_attributes, forgetting
            ),
        )

    @property
    def taken(self) -> list[str]:
        """The mail this flow took, its first and the mail that came with its start
        included, across its continue-as-new."""
        if self._taken is None:
            start = self.runtime.start
            resume = start.resume
            came = [delivery_key(m) for m in (start.first, *start.queued)]
            self._taken = (
                list(resume.taken) if resume and resume.taken else came[-REMEMBERED_DELIVERIES:]
            )
        return self._taken

    def reporter(self, start: FlowStart) -> Reporter:
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
                    lambda: self.runtime.settled, lambda latest: self._tell_latest(parent, latest)
                )
            self._reports.offer(progress)

        return report

    async def _tell_latest(self, parent: str, progress: FlowProgress) -> None:
        """Each report costs the thread a signal and a workflow task: one that only repeats
        where the flow last came to rest (an answer still missing the same items) is left
        out; its stages go with the next report that changes what the thread shows."""
        told = self._told
        if (
            told is not None
            and repeats_rest(progress, told)
            # runs that reported every rest
            and changed(REPEATED_REST_UNREPORTED, self.runtime.start.history_format)
        ):
            return
        # the last report says which mail the flow took: a forward made again after it
        # closed is then known as taken (workflows/routing.py _taken_before_closing)
        took = self.taken if progress.finished else []
        await _tell(parent, progress.model_copy(update={"took": took}))
        self._told = progress

    def _reports_sent(self) -> bool:
        return self._reports is None or self._reports.sent

    @workflow.signal(name=NEW_MESSAGE)
    def new_message(self, message: NewMessage) -> None:
        key = delivery_key(message)
        if key in self.taken:  # a forward sent again (a thread's retried workflow task)
            workflow.logger.info("mail %s already taken", message.message_id)
            return
        self._taken = remember_delivery(self.taken, key)
        self.deliveries += 1
        self.runtime.deliver(message)

    @workflow.signal(name=NEW_MESSAGES)
    def new_messages(self, messages: list[NewMessage]) -> None:
        """Mail that queued at the thread, in the order it came: one signal for all."""
        for message in messages:
            self.new_message(message)

    @workflow.signal(name=APPROVE)
    def approve(self, decision: ApprovalDecision) -> None:
        self.runtime.decide(decision)

    @workflow.signal(name=FORGET_PERSON)
    def forget_person(self, address: str) -> None:
        """A person erased from the thread: their mail leaves the flow, which continues as
        new at its next rest without them (a flow that never rests keeps them until it
        ends; `mailroom erase` says so)."""
        self.runtime.forget(address)

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


async def _tell(thread_workflow_id: str, progress: FlowProgress) -> None:
    progress = progress.model_copy(update={"reporter": workflow.info().workflow_id})
    if not await report_progress(thread_workflow_id, FLOW_PROGRESS, progress):
        workflow.logger.info("thread %s did not take progress", thread_workflow_id)
