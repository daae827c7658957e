"""The thread's side of flows: route the first human message, forward the rest, and keep
the thread's view of the flow (flow, stage, approvals, PO) up to date."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from use_cases.flow_catalogue import FlowEntry, Route, RouteRequest
    from use_cases.flow_history import with_counted_stages
    from use_cases.flows import (
        ApprovalDecision,
        FlowConfig,
        FlowMode,
        FlowProgress,
        FlowSnapshot,
        FlowStart,
    )
    from use_cases.forwarding import delivery_key
    from use_cases.models import (
        CompleteRequest,
        HumanReply,
        NewMessage,
        StageChange,
        ThreadState,
        ThreadStatus,
        remember_refused,
    )
    from use_cases.thread_labels import stage_details, thread_summary

from workflows import metrics
from workflows.agent_calls import AgentUnavailable, ask_agent
from workflows.execute import ChildFlow, FlowHandle, InlineFlow, execute_inline, execute_workflow
from workflows.flow import MAX_HISTORY
from workflows.mail_to_child import ChildClosed
from workflows.search_attributes import (
    FLOW_ATTRIBUTE,
    STAGE_ATTRIBUTE,
    Identity,
    child_flow_attributes,
    identity_updates,
    thread_identity,
)
from workflows.sending import remember
from workflows.settled import OnceSettled
from workflows.thread_replies import late_decision, record_human_reply, reply_from_thread
from workflows.versions import ROUTE_WITH_SETTINGS, changed

# The mail queued behind the one that opens a flow, to go with its start (the thread's)
WithStart = Callable[[], Awaitable[list[NewMessage]]]

NEEDS_HUMAN = "needs_human"
OTHER = "other"  # the thread's flow when no registered flow takes it


class FlowRouter:
    def __init__(
        self,
        state: ThreadState,
        config: FlowConfig,
        resume: FlowSnapshot | None = None,
        history_format: int = 1,
    ) -> None:
        self.state = state
        self.config = config
        self.history_format = history_format  # the thread run's (workflows/versions.py)
        self.flow: FlowHandle | None = None
        self.answered = False  # the flow has mailed the requester (no acknowledgement needed)
        self._published: tuple[str | None, str | None] = (None, None)
        self._identified: Identity | None = None  # subject, requester, reference upserted
        self._publisher = OnceSettled[None](self._settled, self._upsert_latest)
        self._human_replies: set[str] = set()  # taken in this run (a command run twice)
        self.late_close: str | None = None  # why a mail for an ended flow closes the thread
        self._last_took: set[str] | None = None  # the mail the child had taken, as it ended
        if state.flow_finished or not state.flow or not state.flow_workflow_id:
            return
        if state.flow_mode == FlowMode.CHILD:
            # re-attached after continue-as-new
            self.flow = ChildFlow(state.flow_workflow_id, history_format)
        elif resume is not None and state.flow_entry is not None:
            # an inline flow carried across continue-as-new
            entry = state.flow_entry
            start = self._start(entry, resume.first, resuming=True).model_copy(
                update={"resume": resume}
            )
            self.flow = execute_inline(entry, start, self._report)

    @property
    def inline_resumable(self) -> bool:
        return isinstance(self.flow, InlineFlow) and self.flow.runtime.resumable

    @property
    def rest_requested(self) -> bool:
        return isinstance(self.flow, InlineFlow) and self.flow.runtime.rest_requested

    def request_rest(self) -> None:
        """Ask an inline flow to pause at its next wait for mail, so the thread can
        continue-as-new even while mail keeps coming."""
        if isinstance(self.flow, InlineFlow):
            self.flow.runtime.rest_requested = True

    def snapshot(self) -> FlowSnapshot | None:
        if isinstance(self.flow, InlineFlow) and not self.state.flow_finished:
            return self.flow.runtime.snapshot()
        return None

    @property
    def active(self) -> bool:
        return self.flow is not None and not self.state.flow_finished

    @property
    def inline_running(self) -> bool:
        """An inline flow's state lives in this run: no continue-as-new until it finishes."""
        return isinstance(self.flow, InlineFlow) and not self.state.flow_finished

    async def on_message(self, message: NewMessage, with_start: WithStart | None = None) -> bool:
        """True when this mail opened a flow, which took the mail `with_start` gave it then
        (mail queued behind this one, history format 4)."""
        self.state.reply_address = message.reply_address or self.state.reply_address
        if self.active and self.flow is not None:
            if await self._forwarded(self.flow.deliver(message), [message]):
                return False
            self.state.flow_finished = True  # it ended before this mail reached it
        elif self._took_before_ending([message]):
            # a forward made again by a retried workflow task, its flow's last report first
            workflow.logger.info("flow took %s before it ended", message.message_id)
            return False
        if message.decided_by:
            self.late_close = await late_decision(self.state, message, self.config)
            if self.late_close is not None:
                return False  # an answer or decision for a flow that ended: never a new flow
        if self.state.stage == NEEDS_HUMAN:
            return False
        return await self._route(message, with_start)

    @property
    def child_running(self) -> bool:
        return isinstance(self.flow, ChildFlow) and not self.state.flow_finished

    async def forwarded_together(self, messages: Sequence[NewMessage]) -> bool:
        """Several mails to the running child flow in one signal. False when it took none:
        there was no child running, or it had closed (each mail then goes its own way)."""
        if not messages or not isinstance(self.flow, ChildFlow) or not self.active:
            return False
        if not await self._forwarded(self.flow.deliver_all(messages), messages):
            self.state.flow_finished = True  # it ended before this mail reached it
            return False
        for message in messages:
            self.state.reply_address = message.reply_address or self.state.reply_address
        return True

    async def on_decision(self, decision: ApprovalDecision) -> None:
        if not (self.active and self.state.pending_approval and self.flow is not None):
            workflow.logger.warning("no approval pending in %s; ignored", self.state.thread_id)
            return
        await self._forwarded(self.flow.decide(decision))

    async def on_forget(self, address: str) -> None:
        """A person erased: the running flow leaves them out (a child at its next rest)."""
        if self.active and self.flow is not None:
            await self._forwarded(self.flow.forget(address))

    async def on_complete(self, request: CompleteRequest | None = None) -> None:
        if self.active and self.flow is not None:
            await self._forwarded(self.flow.complete(request))

    async def on_human_reply(self, reply: HumanReply) -> bool:
        """A person's answer, sent once: by the running flow, which takes it as its answer,
        else by the thread. True when the thread itself should now complete (--close)."""
        if reply.message_id in self.state.replies_sent or reply.message_id in self._human_replies:
            workflow.logger.info("human reply %s already taken", reply.message_id)
            return False
        self._human_replies.add(reply.message_id)
        flow = self.flow if self.active else None
        if flow is not None and await self._forwarded(flow.human_reply(reply)):
            return False
        if not await reply_from_thread(self.state, reply, self.config):
            return False  # --close too: the thread stays open for a person (noted)
        self.answered = True  # a person answered: no acknowledgement pending is needed
        return reply.close

    async def _forwarded(
        self, forwarding: Awaitable[None], mail: Sequence[NewMessage] = ()
    ) -> bool:
        """False when a child flow had closed before the thread's signal reached it (it
        finished while the mail was on its way: the thread learns that by the child's last
        report, which can come after)."""
        try:
            await forwarding
        except ChildClosed:
            return await self._taken_before_closing(mail)
        except FailureError as error:
            workflow.logger.info("flow %s had closed: %s", self.state.flow_workflow_id, error)
            return False
        return True

    async def _taken_before_closing(self, mail: Sequence[NewMessage]) -> bool:
        """A forward by local activity that found no open run may be one sent again (the
        thread's workflow task retried) after the child took it and closed: its last
        report, applied before it closed, says which mail it took. A child that closed
        without a last report (terminated) is waited for briefly."""
        with suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._last_took is not None, timeout=LAST_REPORT_WAIT
            )
        taken = self._took_before_ending(mail)
        workflow.logger.info(
            "flow %s had closed; took the mail: %s", self.state.flow_workflow_id, taken
        )
        return taken

    def _took_before_ending(self, mail: Sequence[NewMessage]) -> bool:
        """Every mail taken: a task run again may forward mail that came meanwhile with
        the mail it forwarded first (each mail then goes its own way, in on_message)."""
        took = self._last_took or set()
        return bool(mail) and all(delivery_key(message) in took for message in mail)

    def apply(self, progress: FlowProgress) -> None:
        """A child's report sent by local activity can arrive again, after newer ones, or
        from a flow the thread has left (activities/signals.py): only a newer report of
        the current flow is applied."""
        state = self.state
        if progress.finished and progress.reporter == state.flow_workflow_id:
            self._last_took = set(progress.took)  # thread state only, no command
        if progress.answered and progress.reporter in (None, state.flow_workflow_id):
            self.answered = True  # thread state only, no command
            state.last_activity = workflow.now()
        applied = 0  # the last stage of this flow the thread has, by the child's count
        if progress.reporter is not None:
            if progress.reporter == state.flow_workflow_id and 0 < progress.seq == (
                state.flow_report_seq
            ):
                # The same stage, reported again with what happened there since (a mail
                # that failed, a decision refused): only those are news. Thread state
                # only, no command.
                self._note_events(progress)
                return
            # seq 0: sent by code before reports were counted (applied as they were then)
            stale = 0 < progress.seq <= state.flow_report_seq
            if progress.reporter != state.flow_workflow_id or stale:
                workflow.logger.info(
                    "progress %s #%d already applied or of an earlier flow: ignored",
                    progress.reporter,
                    progress.seq,
                )
                return
            applied = state.flow_report_seq if progress.seq else 0
            state.flow_report_seq = progress.seq
        state.flow, state.stage = progress.flow, progress.stage
        state.last_activity = workflow.now()  # where the flow mails, it reports a stage
        state.pending_approval = progress.pending_approval
        state.facts = {**state.facts, **progress.facts}
        state.flow_finished = progress.finished
        state.agent_tokens = progress.agent_tokens
        self._note_events(progress)
        # Only the thread's state changes (no command records its history).
        if applied:
            state.history = with_counted_stages(state.history, applied, progress)[-MAX_HISTORY:]
        else:
            state.history = [*state.history, *self._unseen(progress)][-MAX_HISTORY:]
        self._publish()

    def _note_events(self, progress: FlowProgress) -> None:
        """Delivery failures and refused decisions: kept once each, however often reported."""
        state = self.state
        for failure in progress.delivery_failures:
            state.delivery_failures = remember(state.delivery_failures, failure)
        for attempt in progress.refused_decisions:
            state.refused_decisions = remember_refused(state.refused_decisions, attempt)
        for message_id in progress.human_replies:
            record_human_reply(state, message_id)

    def _unseen(self, progress: FlowProgress) -> list[StageChange]:
        """The stages this report adds: a child reports where it came to rest, which may
        be several stages on from its last report."""
        last = self.state.history[-1] if self.state.history else None
        for index in range(len(progress.history) - 1, -1, -1):
            if progress.history[index] == last:
                return progress.history[index + 1 :]
        return progress.history

    async def _route(self, message: NewMessage, with_start: WithStart | None = None) -> bool:
        """Open the thread's flow with `message` first and what `with_start` gives, asked
        once the flow is known, in its inbox; False when no registered flow takes it (a
        person decides)."""
        route = await self._find_flow(message, message.flow or self.state.flow)
        entry = route.entry
        if entry is None:
            self.state.flow = message.flow or self.state.flow or OTHER
            self.state.stage = NEEDS_HUMAN
            metrics.stage_entered(OTHER, NEEDS_HUMAN)  # no registered flow: a bounded label
            metrics.escalated(OTHER)
            self._publish()
            return False
        # before the thread's state names the new flow: while this awaits (an
        # acknowledgement), signals still go to the flow the thread had
        behind = await with_start() if with_start is not None else []
        self.state.flow, self.state.flow_entry = entry.name, entry
        self.state.flows_started += 1
        self.state.facts = {}
        mode = self.config.modes.get(entry.name, entry.mode)
        child_id = f"{self.state.thread_id}-{entry.name}-{self.state.flows_started}"
        self.state.flow_mode, self.state.flow_workflow_id = mode.value, child_id
        self.state.flow_finished, self.state.flow_report_seq = False, 0
        self._last_took = None
        start = self._start(entry, message)
        as_child = mode is FlowMode.CHILD
        if not as_child and route.settings is not None:
            # from this worker, recorded with the route: the flow asks for them no more
            start = start.model_copy(update={"settings": route.settings})
        if behind:
            start = start.model_copy(update={"queued": tuple(behind)})
            for later in behind:
                self.state.reply_address = later.reply_address or self.state.reply_address
        self.flow = await execute_workflow(
            entry,
            args=start,
            as_child=as_child,
            workflow_id=child_id,
            report=self._report,
            **(self._child_attributes(entry.name) if as_child else {}),
        )
        return True

    def _child_attributes(self, flow: str) -> dict[str, TypedSearchAttributes]:
        """The child's search attributes, part of its recorded start command."""
        if not self.config.search_attributes:
            return {}
        attributes = child_flow_attributes(self._identity(), flow)
        return {"search_attributes": attributes}

    def _start(self, entry: FlowEntry, first: NewMessage, *, resuming: bool = False) -> FlowStart:
        follows = not resuming and self.state.flows_started > 1
        return FlowStart(
            thread_id=self.state.thread_id,
            mailbox=self.state.mailbox,
            flow=entry.name,
            entry=entry,
            input=first.flow_input,
            first=first,
            config=self.config,
            reopened=self.state.reopened > 0 or follows,
            parent_workflow_id=workflow.info().workflow_id,
            # the thread's: an inline flow runs in its run, and the thread's ChildFlow decides
            # its forwards by it (execute.py); a child keeps it (workflows/versions.py)
            history_format=self.history_format,
        )

    async def _report(self, progress: FlowProgress) -> None:
        self.apply(progress)

    async def _find_flow(self, message: NewMessage, asked: str | None) -> Route:
        """The registered flow for this thread (by name when asked, else by the mailbox,
        else by the agent's classification); no flow when the agent failed: a person
        decides."""
        if asked == OTHER:
            return Route(reason="a person decides")
        request = RouteRequest(
            mailbox=message.mailbox,
            subject=message.subject,
            text=message.text,
            flow=asked,
            with_settings=changed(ROUTE_WITH_SETTINGS, self.history_format),
        )
        try:
            return await ask_agent(RoutingActivities.route, request, self.config)
        except AgentUnavailable:
            return Route(reason="the agent failed")

    def _publish(self) -> None:
        """Flow and stage as search attributes, so the Web UI can filter threads by them."""
        show_stage(self.state)
        if not self.config.search_attributes:
            return
        # an inline flow's local activities (agent, outbox) keep the task open
        self._publisher.offer(None)

    def _settled(self) -> bool:
        return not isinstance(self.flow, InlineFlow) or self.flow.runtime.settled

    async def _upsert_latest(self, _: None) -> None:
        self._upsert()

    @property
    def published(self) -> bool:
        """The last stage is upserted (checked before the thread completes or continues)."""
        return self._publisher.sent

    def _upsert(self) -> None:
        updates: list[SearchAttributeUpdate[str]] = []
        published = (self.state.flow, self.state.stage)
        if published != self._published:
            self._published = published
            updates += [
                FLOW_ATTRIBUTE.value_set(self.state.flow or ""),
                STAGE_ATTRIBUTE.value_set(self.state.stage or ""),
            ]
        updates += self._identity_updates()
        if updates:
            workflow.upsert_search_attributes(updates)

    def _identity_updates(self) -> list[SearchAttributeUpdate[str]]:
        """Subject, requester and reference, with the first stage of each run (a run
        continued-as-new is told them again: they are few bytes) and when they change."""
        identity = self._identity()
        if identity == self._identified:
            return []
        self._identified = identity
        return identity_updates(identity)

    def _identity(self) -> Identity:
        return thread_identity(self.state, searchable_subjects=self.config.searchable_subjects)


def show_stage(state: ThreadState) -> None:
    """The thread's stage as the Web UI's current details. Workflow metadata, which the UI
    reads by query: setting it records nothing in history."""
    workflow.set_current_details(
        stage_details(
            state.thread_id,
            stage=state.stage,
            flow=state.flow,
            messages=state.message_count,
            status=state.status.value if state.status is not ThreadStatus.OPEN else None,
            summary=thread_summary(state.subject, state.requester or state.participants[0])
            if state.runs > 1 and state.participants
            else None,
        )
    )


FLOW_COMPLETION_GRACE = timedelta(minutes=1)
# How long a forward that found its child closed waits for the child's last report. A child
# that closed by itself applied it to the thread before it closed, so the thread's next task
# has it (signals come before timers in an activation): the wait bounds a terminated child.
LAST_REPORT_WAIT = timedelta(seconds=2)
