"""What every flow shares, in workflow code: its inbox, decisions, stages and mail."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import metrics
from workflows.agent_calls import ask_agent
from workflows.alarm import Alarm
from workflows.sending import remember, send_mail

with workflow.unsafe.imports_passed_through():
    from activities.flow_settings import FlowSettingsActivities
    from use_cases.decision_channel import request_key
    from use_cases.flow_catalogue import FlowSettings
    from use_cases.flows import (
        AgentUsage,
        ApprovalDecision,
        FlowProgress,
        FlowSnapshot,
        FlowStart,
    )
    from use_cases.forgetting import Forgetting
    from use_cases.human_replies import reply_to_customer
    from use_cases.mail import OutboundEmail, ReplyKind, SignedReplyTo
    from use_cases.models import (
        CompleteRequest,
        HumanReply,
        NewMessage,
        StageChange,
        answer_address,
    )
    from use_cases.replies import reply_message_id, reply_references, reply_subject
    from use_cases.reply_cap import ReplyLog

Reporter = Callable[[FlowProgress], Awaitable[None]]
Request = TypeVar("Request")
Answer = TypeVar("Answer")

LEDGER_TIMEOUT = timedelta(seconds=30)
# The policy check and the purchase-order ledger (a local SQLite file): a locked or
# unreadable ledger is retried until it is back, ever more slowly; no error type is given
# up on, so a fixed and redeployed worker carries the purchase on.
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
SETTINGS_TIMEOUT = timedelta(seconds=10)
SETTINGS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
MAX_HISTORY = 50
REMEMBERED_HUMAN_REPLIES = 20


# What continue-as-new carries must stay far below Temporal's 2 MB payload limit, however
# much mail is queued: queued messages travel with a shortened text.
CARRIED_TEXT_CHARS = 2_000


def carried(message: NewMessage) -> NewMessage:
    if len(message.text) <= CARRIED_TEXT_CHARS:
        return message
    return message.model_copy(
        update={"text": message.text[:CARRIED_TEXT_CHARS], "text_truncated": True}
    )


class FlowRuntime(ABC):
    """Base of ProcurementFlow and SupportFlow. The same object runs inline in the thread
    or inside a child workflow; `report` tells the thread about progress either way."""

    name = "flow"

    def __init__(self, start: FlowStart, report: Reporter) -> None:
        self.start = start
        self.config = start.config
        self.own: dict[str, Any] = {}  # the flow's own MAILROOM_<FLOW>_* settings
        # where this flow's activities run: its own task queue (the registry's entry)
        self.queue = start.entry.task_queue if start.entry else workflow.info().task_queue
        self.report = report
        self.inbox: deque[NewMessage] = deque()
        self.decision: ApprovalDecision | None = None
        self.complete_requested = False
        self.completion: CompleteRequest | None = None  # who asked, and why (when known)
        self.last_message = start.first
        self.mails_sent = 0
        self.replies = ReplyLog()
        self.progress = FlowProgress(flow=self.name, stage="started")
        self.waiting = False  # blocked in next_message_by: a point it can be resumed from
        # set by the workflow running this flow when it wants to continue-as-new: the flow
        # then pauses at its next wait for mail, even with mail queued (the snapshot keeps it)
        self.rest_requested = False
        self._alarm: Alarm | None = None
        self.local_calls = 0  # local activities in flight
        self.closed_by: str | None = None  # a human reply with --close: who closed
        self._replying: set[str] = set()  # human replies being sent (a signal sent twice)
        self.forgetting = Forgetting()  # people erased while it runs: never mailed again
        if start.resume is None:
            self.inbox.extend(start.queued)  # came with the first, before the flow started
        else:
            self.progress = start.resume.progress
            self.mails_sent = start.resume.mails_sent
            self.replies = start.resume.replies
            self.last_message = start.resume.last_message
            self.inbox.extend(start.resume.pending)
            self.complete_requested = start.resume.complete_requested
            self.completion = start.resume.completion
            self.closed_by = start.resume.closed_by

    @property
    def resumable(self) -> bool:
        """True when snapshot() captures everything: the flow is waiting, nothing queued."""
        return False

    def snapshot(self) -> FlowSnapshot:
        return FlowSnapshot(
            progress=self.progress,
            mails_sent=self.mails_sent,
            replies=self.replies,
            first=self.start.first,
            last_message=self.last_message,
            pending=[carried(m) for m in self.inbox],
            complete_requested=self.complete_requested,
            completion=self.completion,
            closed_by=self.closed_by,
        )

    @abstractmethod
    async def run(self) -> FlowProgress:
        """The flow itself, from its first message (or its snapshot) to its last stage."""

    async def run_flow(self) -> FlowProgress:
        """The flow with its worker's settings (read again in every run: a resumed flow
        sees what its worker has now; a new inline flow whose route brought them, recorded
        with the route, takes those)."""
        brought = self.start.settings
        # brought under the flow's registered name (`start.flow`); the activity asks under
        # the runtime's `name`: the same for every flow mailroom registers, else it asks
        if brought is not None and self.start.resume is None and self.start.flow == self.name:
            self._take_settings(brought)
        else:
            await self.refresh_settings()
        return await self.run()

    async def refresh_settings(self) -> bool:
        """Take the settings of the worker running this flow now; True when they changed.
        A local activity: its answer is recorded, so a replay sees what the run saw."""
        fresh = await workflow.execute_local_activity_method(
            FlowSettingsActivities.settings_of,
            self.name,
            start_to_close_timeout=SETTINGS_TIMEOUT,
            retry_policy=SETTINGS_RETRY,
        )
        return self._take_settings(fresh)

    def _take_settings(self, fresh: FlowSettings) -> bool:
        config = fresh.applied_to(self.config)
        changed = config != self.config or fresh.own != self.own
        self.config, self.own = config, fresh.own
        return changed

    # -- what the thread (or the child workflow's signal handlers) calls -----------------
    def deliver(self, message: NewMessage) -> None:
        self.inbox.append(message)

    def decide(self, decision: ApprovalDecision) -> None:
        if self.progress.pending_approval and self.decision is None:
            self.decision = decision

    def forget(self, address: str) -> None:
        """A person erased (`mailroom erase`): their queued mail goes, nothing more is sent
        to them; the snapshot of the next run leaves them out (use_cases/forgetting.py)."""
        self.forgetting.add(address)
        kept = [m for m in self.inbox if not self.forgetting.theirs(m.from_addr)]
        self.inbox.clear()
        self.inbox.extend(kept)
        # what it reports to the thread from now on names them no more
        self.progress = self.forgetting.model(self.progress)

    def to_forgotten(self, recipients: tuple[str, ...]) -> bool:
        return any(self.forgetting.theirs(r) for r in recipients)

    def request_complete(self, request: CompleteRequest | None = None) -> None:
        self.complete_requested = True
        self.completion = request

    # -- helpers for flow code --------------------------------------------------------------
    async def stage(self, stage: str, note: str = "", **changes: Any) -> None:
        metrics.stage_entered(self.name, stage)
        history = [*self.progress.history, StageChange(stage=stage, at=workflow.now(), note=note)]
        self.progress = self.progress.model_copy(
            update={
                "stage": stage,
                "history": history[-MAX_HISTORY:],
                "seq": self.progress.seq + 1,
                **changes,
            }
        )
        await self.report(self.progress)

    async def note(self, event: str, note: str) -> None:
        """An entry in the flow's history that leaves its stage as it is."""
        history = [*self.progress.history, StageChange(stage=event, at=workflow.now(), note=note)]
        self.progress = self.progress.model_copy(
            update={"history": history[-MAX_HISTORY:], "seq": self.progress.seq + 1}
        )
        await self.report(self.progress)

    async def finish(self, stage: str, note: str = "") -> FlowProgress:
        if self._alarm is not None:  # an inline flow's thread lives on: leave no timer behind
            self._alarm.stop()
        await self.stage(stage, note, finished=True, pending_approval=False)
        return self.progress

    async def ask(
        self, method: Callable[[Any, Request], Awaitable[Answer]], request: Request
    ) -> Answer:
        """Ask the agent (raises AgentUnavailable)."""
        with self._local_call(self.config.agent_in_process):
            answer = await ask_agent(method, request, self.config, self.queue)
        usage = getattr(answer, "usage", None)
        if isinstance(usage, AgentUsage) and usage.total_tokens:
            tokens = self.progress.agent_tokens + usage.total_tokens
            self.progress = self.progress.model_copy(update={"agent_tokens": tokens})
        return answer

    async def human_reply(self, reply: HumanReply) -> None:
        """Send a person's answer to the customer, once (its Message-ID was fixed before
        the signal), record it, and let the flow take it as the answer (`on_human_reply`)."""
        if reply.message_id in self.progress.human_replies or reply.message_id in self._replying:
            workflow.logger.info("human reply %s already sent", reply.message_id)
            return
        self._replying.add(reply.message_id)
        mail = reply_to_customer(
            reply, first=self.start.first, about=self.last_message, thread_id=self.start.thread_id
        )
        if mail is not None and self.to_forgotten(mail.to):
            mail = None  # erased meanwhile: told as nobody to send it to
        if mail is None:  # a null, no-reply or list sender: nobody to answer, nothing closed
            workflow.logger.warning("human reply %s: nobody to send it to", reply.message_id)
            closing = "; the thread stays open (--close)" if reply.close else ""
            await self.note("reply not sent", f"by {reply.by}: no address to send it to{closing}")
            return
        local = self.config.outbox_in_process
        with self._local_call(local):
            failure = await send_mail(mail, local=local)
        sent = [*self.progress.human_replies, reply.message_id][-REMEMBERED_HUMAN_REPLIES:]
        failures = self.progress.delivery_failures
        if failure is not None:
            failures = remember(failures, failure)
        # the requester has a person's answer: the thread sends no acknowledgement
        answered = self.progress.answered or failure is None
        self.progress = self.progress.model_copy(
            update={"human_replies": sent, "delivery_failures": failures, "answered": answered}
        )
        await self.note("answered", f"answered by {reply.by}")
        await self.on_human_reply(reply)
        if reply.close:
            self.closed_by = reply.by
            self.request_complete(
                CompleteRequest(reason=f"closed by {reply.by}", requested_by=reply.by)
            )

    async def on_human_reply(self, reply: HumanReply) -> None:
        """What a flow does once a person answered for it (support: waits for the customer
        again, its SLA counted from this answer)."""
        return None  # a hook: most flows need nothing more

    @contextmanager
    def _local_call(self, local: bool) -> Iterator[None]:
        """A local activity keeps the workflow task open: reports wait for it (`settled`)."""
        self.local_calls += int(local)
        try:
            yield
        finally:
            self.local_calls -= int(local)

    @property
    def settled(self) -> bool:
        """No local activity in flight (agent or outbox): what the flow shows now is where
        it rests when the workflow task completes."""
        return not self.local_calls

    async def next_message_by(self, deadline: datetime) -> NewMessage | None:
        """The next message for this flow, or None when `deadline` passed or completion was
        requested; the timer is shared by successive waits (workflows/alarm.py)."""
        self.waiting = True
        try:
            while not self._has_mail_or_end():
                if self._alarm is None or not self._alarm.serves(deadline):
                    if self._alarm is not None:
                        self._alarm.stop()
                    self._alarm = Alarm(deadline)
                await workflow.wait_condition(self._has_mail_or_end_or_alarm)
                if not self._has_mail_or_end() and self._alarm.rang_for(deadline):
                    return None
        finally:
            self.waiting = False
        return self._take_message()

    def _has_mail_or_end(self) -> bool:
        # A pause asked for (continue-as-new) holds mail only where the flow can resume
        # from: one that cannot (procurement) would ignore its requester until the deadline.
        paused = self.rest_requested and self.resumable
        return (bool(self.inbox) and not paused) or self.complete_requested

    def _has_mail_or_end_or_alarm(self) -> bool:
        return self._has_mail_or_end() or (self._alarm is not None and self._alarm.rang)

    def _take_message(self) -> NewMessage | None:
        if self.inbox:
            self.last_message = self.inbox.popleft()
            return self.last_message
        return None

    async def mail(
        self,
        purpose: str,
        text: str,
        *,
        to: tuple[str, ...] | None = None,
        subject: str | None = None,
        decision_of: str | None = None,
    ) -> str | None:
        """Send a mail; its Message-ID is fixed here, before the activity, so retries and
        replays never send it twice."""
        # A null, no-reply or unknown sender: nobody to tell. Only for messages that say so
        # (reply_target ""); one recorded before there was the field sends as it did then.
        if to is None and self.last_message.reply_target == "":
            workflow.logger.info("no automatic %s mail: no address to send it to", purpose)
            return None
        recipients = to or (answer_address(self.last_message),)
        if self.to_forgotten(recipients):
            workflow.logger.info("no %s mail: a recipient was erased", purpose)
            return None
        now, cap = workflow.now(), self.config.auto_reply_cap
        # Mail to an approver on file is not an answer to whoever wrote: the caps that stop
        # robots and backscatter must not let a flood of forgeries silence the approver.
        if decision_of is None and not all(
            self.replies.allows(r, now, cap, self.config.auto_reply_window) for r in recipients
        ):
            if not self.replies.suppressed:
                metrics.loop_broken()
            metrics.automatic_mail_not_answered("loop")
            self.replies.suppressed += 1
            workflow.logger.warning(
                "automatic reply to %s suppressed: over %d per %s",
                recipients,
                cap,
                self.config.auto_reply_window,
            )
            return None
        self.replies.record(recipients, now)
        self.mails_sent += 1
        about = self.last_message
        message_id = reply_message_id(
            f"{self.name}-{self.mails_sent}-{purpose}", about.message_id, self.start.mailbox
        )
        mail = OutboundEmail(
            message_id=message_id,
            from_addr=self.start.mailbox,
            to=recipients,
            subject=subject or reply_subject(about.subject),
            text=text,
            in_reply_to=about.message_id,
            references=reply_references(about),
            # the thread's signed token: a reply that keeps no threading header finds it
            reply_to=self.start.first.reply_address or self.start.mailbox,
            headers={"Auto-Submitted": "auto-replied", "X-Loop": self.start.mailbox},
            thread_id=self.start.thread_id,
            recipient_verified=to is None and about.thread_rule == "reply-token",
            decision_reply_to=SignedReplyTo(
                thread_id=self.start.thread_id,
                request=request_key(self.start.first.message_id),
                approver=decision_of,
            )
            if decision_of
            else None,
            kind=mail_kind(purpose, to, decision_of),
        )
        local = self.config.outbox_in_process
        with self._local_call(local):
            failure = await send_mail(mail, local=local)
        if failure is not None:
            self.progress = self.progress.model_copy(
                update={"delivery_failures": remember(self.progress.delivery_failures, failure)}
            )
            await self.report(self.progress)
        elif to is None and not self.progress.answered:
            await self._answered()
        return message_id

    async def _answered(self) -> None:
        """The requester has our answer: the thread sends no acknowledgement (its delay)."""
        self.progress = self.progress.model_copy(update={"answered": True})
        await self.report(self.progress)


def mail_kind(purpose: str, to: tuple[str, ...] | None, decision_of: str | None) -> ReplyKind:
    """A flow's mail by what it is for: to whoever wrote (an answer), a person's decision
    asked for, or word to someone else (an escalation notice to a support agent)."""
    if decision_of is not None:
        return "notification" if purpose == ESCALATION_NOTICE else "approval_request"
    return "answer" if to is None else "notification"


ESCALATION_NOTICE = "escalation"  # workflows/support_humans.py: the notice to the team
