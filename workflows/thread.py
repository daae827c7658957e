"""ThreadWorkflow: one long-lived, durable workflow per email conversation."""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.flows import ApprovalDecision, FlowProgress
    from use_cases.forgetting import ERASED, Forgetting
    from use_cases.forwarding import fitting_a_start
    from use_cases.mail import MessageKind
    from use_cases.models import (
        CompleteRequest,
        HumanReply,
        NewMessage,
        ThreadInput,
        ThreadState,
        ThreadStatus,
        answer_address,
    )
    from use_cases.replies import acknowledgement
    from use_cases.threading import of_mailbox
    from use_cases.tickets import ticket_reference

from workflows import metrics
from workflows.continue_as_new import should_continue_as_new
from workflows.flow import carried
from workflows.messages import (
    APPROVE,
    COMPLETE_THREAD,
    FLOW_PROGRESS,
    FORGET_PERSON,
    HUMAN_REPLY,
    NEW_MESSAGE,
    REJECT,
    THREAD_STATE_QUERY,
)
from workflows.routing import FLOW_COMPLETION_GRACE, FlowRouter, WithStart, show_stage
from workflows.search_attributes import forgotten_attributes, thread_identity
from workflows.sending import remember, send_mail
from workflows.thread_memory import other_content, record_bounce, summary
from workflows.versions import (
    QUEUED_MAIL_TO_CHILD,
    QUEUED_MAIL_WITH_START,
    changed,
    known_format,
)

TASK_QUEUE = "mailroom-threads"

# Continue-as-new well before Temporal's 10 000-signal / 51 200-event hard limits.
DEFAULT_MESSAGES_PER_RUN = 500
# Dedup memory is bounded so the state carried across continue-as-new stays far below the
# 256 KB payload warning: ~1 000 Message-IDs ≈ 70 KB.
REMEMBERED_MESSAGE_IDS = 1_000
REMEMBERED_SUMMARIES = 100
REMEMBERED_PARTICIPANTS = 200
REMEMBERED_REPLIES = 100
# A thread of automatic mail only (out-of-office, bounces, machine mail) with no flow
# completes FlowConfig.automatic_grace after its first such mail: a burst lands in one run.
AUTOMATIC_ONLY = "automatic mail only"


@workflow.defn(name="ThreadWorkflow")
class ThreadWorkflow:
    @workflow.init
    def __init__(self, input: ThreadInput) -> None:
        self._state = (
            input.state.model_copy(deep=True)
            if input.state
            else ThreadState(
                thread_id=input.thread_id, workflow_id=input.thread_id, mailbox=input.mailbox
            )
        )
        # Continued-as-new (status OPEN, not a reopen) with its flow already finished (the
        # child's last report came while the thread waited to continue): it completes.
        self._inherited_finished_flow = (
            input.state is not None
            and input.state.status is ThreadStatus.OPEN
            and input.state.flow_finished
            and input.state.flow is not None
        )
        # A completed thread written again without an erased person completes at once
        # (`mailroom erase`: its earlier runs are deleted after); any other run of a
        # completed thread reopens it.
        self._rewrite = input.rewrite
        self._reopened_run = False
        if self._state.status is ThreadStatus.COMPLETED and not input.rewrite:
            self._reopen()
        self._continued_run = input.state is not None and not self._reopened_run
        # people erased (FORGET_PERSON): this run ends at its next rest, without them
        self._forgetting = Forgetting()
        self._seen = set(self._state.message_ids)
        self._pending: deque[NewMessage] = deque(input.pending)
        self._complete: CompleteRequest | None = None
        self._messages_per_run = input.messages_per_run or DEFAULT_MESSAGES_PER_RUN
        self._messages_this_run = 0
        self._flows = FlowRouter(
            self._state, input.flow_config, input.flow_resume, known_format(input.history_format)
        )
        self._flow_config = input.flow_config
        self._counted_as = metrics.mailbox_label(
            self._state.mailbox, input.flow_config.counted_mailboxes
        )
        self._state.reference = self._state.reference or ticket_reference(input.thread_id)
        show_stage(self._state)  # each run starts with blank current details
        self._pending_ack: asyncio.Task[None] | None = None
        self._behind: list[NewMessage] = []  # admitted, for the flow being opened (format 4)
        self._human_this_run = False
        self._automatic_grace: asyncio.Task[None] | None = None
        self._automatic_only = False

    @workflow.signal(name=NEW_MESSAGE)
    def new_message(self, message: NewMessage) -> None:
        collision = message.message_id in self._seen and other_content(self._state, message)
        if message.message_id in self._seen and not collision:
            self._state.duplicates_ignored += 1
            metrics.duplicate_dropped()
            return
        if collision:
            workflow.logger.warning("kept another mail reusing %s", message.message_id)
            self._state.message_id_collisions += 1
        self._remember(message, collision=collision)
        self._pending.append(message)
        show_stage(self._state)

    @workflow.signal(name=COMPLETE_THREAD)
    def complete_thread(self, request: CompleteRequest) -> None:
        self._complete = request

    @workflow.signal(name=APPROVE)
    async def approve(self, decision: ApprovalDecision) -> None:
        await self._flows.on_decision(decision)

    @workflow.signal(name=REJECT)
    async def reject(self, decision: ApprovalDecision) -> None:
        await self._flows.on_decision(decision)

    @workflow.signal(name=HUMAN_REPLY)
    async def human_reply(self, reply: HumanReply) -> None:
        """A person's answer to the customer (`mailroom reply`); with `close`, the thread
        completes once it went out (a running flow finishes itself)."""
        if await self._flows.on_human_reply(reply) and self._complete is None:
            self._complete = CompleteRequest(reason=f"closed by {reply.by}", requested_by=reply.by)

    @workflow.signal(name=FLOW_PROGRESS)
    def flow_progress(self, progress: FlowProgress) -> None:
        self._flows.apply(progress)

    @workflow.signal(name=FORGET_PERSON)
    async def forget_person(self, address: str) -> None:
        """`mailroom erase` of someone in a thread shared with others: their mail and
        address leave the thread's state and its flow's, and the thread continues as new at
        its next rest (an inline flow that cannot rest: once it ends), so that the runs
        that recorded them can be deleted."""
        self._forgetting.add(address)
        self._forget_in_state()
        await self._flows.on_forget(address)

    @workflow.query(name=THREAD_STATE_QUERY)
    def thread_state(self) -> ThreadState:
        return self._state

    @workflow.run
    async def run(self, input: ThreadInput) -> ThreadState:
        if self._rewrite:
            if not self._pending:
                return self._state  # the completed thread, now without the erased person
            self._reopen()  # a mail came as it was written again: it reopens, as it would
            self._continued_run = False
        self._count_start(input)
        if self._continued_run and self._only_automatic_mail():  # continued in its grace
            self._await_human_mail()
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._pending)
                    or self._complete is not None
                    or self._flow_done()
                    or self._automatic_only
                    or self._rest_due()
                )
            )
            while self._pending:
                await self._handle_queued()
            if self._complete is not None or self._flow_done() or self._automatic_only:
                if await self._finished():
                    return self._state
            elif self._rest_due():
                # An inline flow goes along only from a point it can resume from (waiting
                # for mail): asked to pause at its next wait even with mail queued, it leaves
                # mail just handed to it in its inbox, which the snapshot carries.
                self._flows.request_rest()
                if not self._can_rest():
                    continue
                await workflow.wait_condition(self._quiet)
                if self._ends_meanwhile():
                    continue  # a close that came while waiting: continue-as-new would lose it
                if not self._can_rest():
                    continue  # the flow took mail while this run grew quiet: its next wait
                self._state.runs += 1
                self._continue_as_new()

    def _continue_as_new(self) -> None:
        following = ThreadInput(
            thread_id=self._state.thread_id,
            mailbox=self._state.mailbox,
            state=self._state,
            pending=tuple(carried(m) for m in self._pending),
            messages_per_run=self._messages_per_run,
            flow_config=self._flow_config,
            flow_resume=self._flows.snapshot(),
            history_format=self._flows.history_format,  # kept: see workflows/versions.py
        )
        if not self._forgetting.addresses:
            workflow.continue_as_new(following)
        following = self._forgetting.model(following)  # the next run without them (erasure)
        identity = thread_identity(
            following.state or self._state,
            searchable_subjects=self._flow_config.searchable_subjects,
        )
        workflow.continue_as_new(
            following,
            search_attributes=forgotten_attributes(
                workflow.info().typed_search_attributes, self._forgetting, identity
            ),
        )

    def _reopen(self) -> None:
        self._reopened_run = True
        self._state.status = ThreadStatus.OPEN
        self._state.reopened += 1
        self._state.completed_reason = None

    def _forget_in_state(self) -> None:
        """The erased people out of the state, in place (the flow router holds it), and
        out of the mail queued here."""
        forgetting = self._forgetting
        answered_them = forgetting.theirs(self._state.answer_to)
        kept = forgetting.model(self._state)
        for field in type(self._state).model_fields:
            setattr(self._state, field, getattr(kept, field))
        if answered_them:  # a person's reply goes to whoever wrote first after them
            self._state.answer_to = next(
                (
                    m.from_addr
                    for m in self._state.messages
                    if not m.automatic and not of_mailbox(m.from_addr, self._state.mailbox)
                ),
                "",
            )
        queued = [m for m in self._pending if not forgetting.theirs(m.from_addr)]
        self._pending.clear()
        self._pending.extend(queued)

    def _count_start(self, input: ThreadInput) -> None:
        if input.state is None:
            metrics.thread_opened(self._counted_as)
        elif self._reopened_run:
            metrics.thread_reopened(self._counted_as, self._state.flow)

    def _quiet(self) -> bool:
        """Every handler finished, the last stage upserted and the acknowledgement decided:
        safe to complete or continue-as-new."""
        return (
            workflow.all_handlers_finished()
            and self._flows.published
            and (self._pending_ack is None or self._pending_ack.done())
        )

    def _ends_meanwhile(self) -> bool:
        """The thread was closed (COMPLETE_THREAD, `mailroom reply --close`), its flow
        finished or its automatic-mail grace ran out while it waited to continue-as-new:
        it completes instead."""
        return self._complete is not None or self._flow_done() or self._automatic_only

    def _flow_done(self) -> bool:
        running_here = self._flows.flow is not None or self._inherited_finished_flow
        return running_here and self._state.flow_finished

    async def _finished(self) -> bool:
        """Complete the thread: on COMPLETE_THREAD (the flow is told and given a grace
        period to wrap up) or when its flow finished. False if new mail arrived meanwhile."""
        if self._complete is not None and self._flows.active:
            await self._flows.on_complete(self._complete)
            try:
                await workflow.wait_condition(self._flow_done, timeout=FLOW_COMPLETION_GRACE)
            except TimeoutError:
                workflow.logger.warning("flow did not finish on completion; thread completes")
        await workflow.wait_condition(self._quiet)
        if self._pending:
            return False
        if self._automatic_only and not self._only_automatic_mail():
            self._automatic_only = False  # a human wrote meanwhile: the thread goes on
            return False
        self._state.status = ThreadStatus.COMPLETED
        reason = f"{self._state.flow} flow {self._state.stage}" if self._flow_done() else None
        if self._automatic_only and self._complete is None and reason is None:
            reason = AUTOMATIC_ONLY
        self._state.completed_reason = self._complete.reason if self._complete else reason
        if self._forgetting.addresses:  # what the flow reported since they were forgotten
            self._forget_in_state()
        show_stage(self._state)
        metrics.thread_completed(self._counted_as, self._state.flow, self._state.message_count)
        return True

    def _remember(self, message: NewMessage, *, collision: bool = False) -> None:
        state = self._state
        self._seen.add(message.message_id)
        state.message_ids.append(message.message_id)
        if len(state.message_ids) > REMEMBERED_MESSAGE_IDS:
            self._seen.discard(state.message_ids.pop(0))
        kept = summary(message).model_copy(update={"collision": collision})
        state.messages = [*state.messages, kept][-REMEMBERED_SUMMARIES:]
        state.message_count += 1
        state.last_activity = workflow.now()
        self._messages_this_run += 1
        state.subject = state.subject or message.subject
        people = [message.from_addr, *message.to, *message.cc]
        for person in people:
            ours = of_mailbox(person, state.mailbox)  # plain or our signed +token address
            if person and not ours and person not in state.participants:
                state.participants.append(person)
        del state.participants[REMEMBERED_PARTICIPANTS:]

    async def _handle_queued(self) -> None:
        """The next queued mail; with a child flow running, all of it, handed over in one
        signal: mail that came while the thread forwarded earlier mail costs one round
        trip to the child, not one each. With no flow running, all of it too: the mail
        that opens a flow, and the rest with the flow's start."""
        if not self._flows.active and changed(QUEUED_MAIL_WITH_START, self._flows.history_format):
            await self._open_with_queued()
            return
        if (
            len(self._pending) < 2
            or not self._flows.child_running
            # runs that forwarded one by one
            or not changed(QUEUED_MAIL_TO_CHILD, self._flows.history_format)
        ):
            await self._handle(self._pending.popleft())
            return
        queued = list(self._pending)
        self._pending.clear()
        admitted = [message for message in queued if await self._admitted(message)]
        if len(admitted) > 1 and await self._flows.forwarded_together(admitted):
            return
        for message in admitted:  # the child had closed: each goes its own way, in turn
            await self._to_flow(message)

    async def _open_with_queued(self) -> None:
        """No flow running: the first queued mail that opens one has the rest, and mail
        that came while its route was asked, in its inbox from its start, so it answers
        them as one before it first answers (handed over after the start, a child flow
        could answer the first mail alone while the rest was on its way). A mail that
        opens no flow goes its own way, and the next one may open it."""
        queued = list(self._pending)
        self._pending.clear()
        admitted = [message for message in queued if await self._admitted(message)]
        while admitted:
            first = admitted.pop(0)
            if self._forgetting.theirs(first.from_addr):
                continue  # erased while an earlier mail was handled: as if never queued
            self._behind = admitted
            if await self._to_flow(first, self._with_start):
                # people erased in this run before it opened: the new flow forgets them too
                for address in sorted(self._forgetting.addresses):
                    await self._flows.on_forget(address)
                beyond = [m for m in self._behind if not self._forgetting.theirs(m.from_addr)]
                self._behind = []
                # more than a start carries: forwarded after it, together where a child runs
                if len(beyond) > 1 and await self._flows.forwarded_together(beyond):
                    return
                for message in beyond:
                    await self._to_flow(message)
                return
            admitted, self._behind = self._behind, []

    async def _with_start(self) -> list[NewMessage]:
        """Asked once a route found the flow, as its start is made: the mail to go with
        it, the rest (beyond what a start carries) stays in `_behind`, forwarded after."""
        while self._pending:  # came while the route was asked
            message = self._pending.popleft()
            if await self._admitted(message):
                self._behind.append(message)
        kept = [m for m in self._behind if not self._forgetting.theirs(m.from_addr)]
        with_start = fitting_a_start(kept)
        self._behind = kept[len(with_start) :]
        return with_start

    async def _handle(self, message: NewMessage) -> None:
        if await self._admitted(message):
            await self._to_flow(message)

    async def _admitted(self, message: NewMessage) -> bool:
        """The thread's own bookkeeping of a mail; False for automatic mail, which no flow
        answers."""
        if message.kind == MessageKind.BOUNCE:
            metrics.bounce_received(message.report)
        if message.kind == MessageKind.BOUNCE and message.report is not None:
            record_bounce(self._state, message)
        if message.automatic:
            metrics.automatic_mail_not_answered(metrics.not_answered_reason(message.kind))
            workflow.logger.info(
                "not answering automatic mail %s: %s", message.message_id, message.automatic
            )
            first = self._automatic_grace is None and self._only_automatic_mail()
            if first:
                self._await_human_mail()
            return False
        self._human_this_run = True
        if not self._state.requester or (
            self._state.requester == ERASED and not self._state.answer_to
        ):  # where a person's reply goes (thread_customer): who wrote first, or, once
            # they were erased, whoever writes next when none had written after them
            self._state.answer_to = answer_address(message)
        self._state.requester = self._state.requester or message.from_addr
        if not self._state.acknowledged and self._pending_ack is None and answer_address(message):
            if self._flow_config.ack_delay > timedelta(0):
                self._pending_ack = asyncio.create_task(self._acknowledge_unless_answered(message))
            else:
                await self._acknowledge(message)
        return True

    async def _to_flow(self, message: NewMessage, with_start: WithStart | None = None) -> bool:
        """True when `message` opened a flow that took the mail `with_start` gave."""
        took_behind = await self._flows.on_message(message, with_start)
        late, self._flows.late_close = self._flows.late_close, None
        ending = self._flows.active or self._flow_done()  # the flow's end completes it
        if late is not None and self._complete is None and not ending:
            # a reopened thread has no flow whose end completes it: it completes again
            self._complete = CompleteRequest(reason=late, requested_by="mailroom")
        return took_behind

    async def _acknowledge_unless_answered(self, message: NewMessage) -> None:
        """No acknowledgement when the flow's own answer reaches the requester within the
        delay: one timer, on the thread's first human mail only. A flow that finishes by
        itself without having answered is acknowledged at once; a thread completed (an
        operator, `mailroom complete`) before then is not: its closing word is enough."""
        with suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._flows.answered or self._flow_done() or self._complete is not None,
                timeout=self._flow_config.ack_delay,
            )
        if self._flows.answered:
            self._state.acknowledged = True  # the flow's answer told them
            return
        if self._complete is not None:  # the closing mail goes out now: no "we received" with it
            workflow.logger.info("no acknowledgement: the thread was completed first")
            return
        await self._acknowledge(message)

    async def _acknowledge(self, message: NewMessage) -> None:
        if self._forgetting.theirs(answer_address(message)):
            workflow.logger.info("no acknowledgement: its recipient was erased")
            return
        reply = acknowledgement(message, self._state)
        failure = await send_mail(reply, local=self._flow_config.outbox_in_process)
        if failure is not None:
            self._state.delivery_failures = remember(self._state.delivery_failures, failure)
        self._state.acknowledged = True
        self._state.last_activity = workflow.now()
        self._state.replies_sent = [*self._state.replies_sent, reply.message_id][
            -REMEMBERED_REPLIES:
        ]

    def _only_automatic_mail(self) -> bool:
        """No human mail in this run and no flow to wait for, in a thread that never had
        human mail (`requester`; the summaries, for threads older than that field) or that
        automatic mail reopened (an out-of-office answer to our last mail)."""
        if self._human_this_run or self._flows.active:
            return False
        return self._reopened_run or (
            not self._state.requester and all(m.automatic for m in self._state.messages)
        )

    def _await_human_mail(self) -> None:
        self._automatic_grace = asyncio.create_task(self._close_unless_human_mail())

    async def _close_unless_human_mail(self) -> None:
        try:
            await workflow.wait_condition(
                lambda: self._human_this_run, timeout=self._flow_config.automatic_grace
            )
        except TimeoutError:
            self._automatic_only = self._only_automatic_mail()

    def _rest_due(self) -> bool:
        """Continue-as-new is due (a pure check, asked in wait_condition predicates): it can
        go now, or the inline flow is still to be asked to pause."""
        if not self._forgetting.addresses and not should_continue_as_new(
            self._messages_this_run, self._messages_per_run
        ):
            return False
        return self._can_rest() or not self._flows.rest_requested

    def _can_rest(self) -> bool:
        return not self._flows.inline_running or self._flows.inline_resumable
