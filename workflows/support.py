"""Support: triage → answer from the knowledge base or escalate → wait for the customer →
resolved, with an SLA reminder and auto-close (seed 003)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from use_cases.flows import (
        ClassifyRequest,
        FlowProgress,
        FlowSnapshot,
        FlowStart,
        SupportMemory,
        Triage,
        says_solved,
        stopped_by_operator,
        team_addresses,
    )
    from use_cases.models import HumanReply, NewMessage

from workflows import metrics
from workflows.agent_calls import AgentUnavailable
from workflows.flow import Reporter
from workflows.flow_workflow import FlowWorkflow
from workflows.support_humans import SupportHumans

MAX_MERGED_TEXT = 16_000
UNVERIFIED_SOLVED = (
    "the customer says it is solved; not closed: not through the thread's reply address"
)


class SupportFlow(SupportHumans):
    name = "support"

    def __init__(self, start: FlowStart, report: Reporter) -> None:
        super().__init__(start, report)
        kept = SupportMemory.model_validate(start.resume.own if start.resume else {})
        self.triage = kept.triage
        self.waiting_since = kept.waiting_since
        self.reminded = kept.reminded
        self.answers_sent = list(kept.answers_sent)
        self.conversation = list(kept.conversation)
        self.escalation_notices = kept.escalation_notices
        self.queued_at_answer: set[str] = set()  # mail that came before our last answer
        self.waiting_before: datetime | None = None  # when the last wait for the customer began

    @property
    def resumable(self) -> bool:
        return self.waiting and self.triage is not None

    def snapshot(self) -> FlowSnapshot:
        return (
            super()
            .snapshot()
            .model_copy(
                update={
                    "own": SupportMemory(
                        triage=self.triage,
                        waiting_since=self.waiting_since,
                        reminded=self.reminded,
                        answers_sent=self.answers_sent,
                        conversation=self.conversation,
                        escalation_notices=self.escalation_notices,
                    ).model_dump(mode="json")
                }
            )
        )

    async def run(self) -> FlowProgress:
        message: NewMessage | None
        if self.start.resume is None:
            self.triage = await self._triage(self.start.first)
            await self.stage("triaged", f"{self.triage.category}/{self.triage.priority}")
            # mail before the first answer: answered with it
            message = self._with_queued(self.start.first)
        else:  # continued-as-new while waiting for the customer: wait on, timers included
            message = await self._wait_for_customer(resumed=True)
        triage = self.triage or Triage(category="unknown")
        while message is not None:
            if message.message_id != self.start.first.message_id and says_solved(message):
                if self._may_close(message):
                    await self.mail("thanks", "Glad it is solved; we close this thread now.\n")
                    return await self.finish("resolved", "the customer says it is solved")
                workflow.logger.warning(
                    "not closing on 'solved' from %s by %s: not the customer's signed reply "
                    "address",
                    message.from_addr,
                    message.thread_rule,
                )
                # not a question: noted, the SLA runs on
                await self.note("not closed", UNVERIFIED_SOLVED)
                self.waiting_since = self.waiting_before or workflow.now()
                message = await self._wait_for_customer(resumed=True)
                continue
            await self.respond(message, triage)
            message = await self._wait_for_customer()
        if self.complete_requested:
            closed = f"closed by {self.closed_by}" if self.closed_by else _completed(self)
            if self.completion is not None and self.completion.tell_requester:
                await self.mail("stopped", stopped_by_operator(self.completion))
            return await self.finish("resolved", closed)
        await self.mail(
            "closed",
            "We closed this thread after hearing nothing back. Reply to this mail to re-open it.\n",
        )
        return await self.finish("closed", "auto-closed after silence")

    async def _triage(self, message: NewMessage) -> Triage:
        try:
            return await self.ask(AgentActivities.triage, self._question(message))
        except AgentUnavailable:
            return Triage(category="unknown", priority="normal")

    def _may_close(self, message: NewMessage) -> bool:
        """A "solved" closes the thread only from the customer, through the thread's signed
        reply address (every mail we send carries it): anyone else who reaches the thread
        by its subject or a Message-ID must not close someone's request. The customer's
        own address, vouched for by the operator's MTA (RFC 8601), is as good: a client
        that ignored our Reply-To still closes it, a forged From: still cannot."""
        customer = message.from_addr.lower() == self.start.first.from_addr.lower()
        if message.thread_rule == "reply-token" and customer:
            return True
        # the operator's MTA vouched for the From: (RFC 8601): it is the customer's own mail
        return customer and message.from_authenticated

    async def _wait_for_customer(self, resumed: bool = False) -> NewMessage | None:
        """Wait for the customer's next mail, with the SLA reminder and auto-close. Resumed
        (continued-as-new, or after a mail that needs no answer): the SLA runs on."""
        if not resumed:
            if not self._escalation_unanswered():
                await self.stage("waiting_for_customer")  # escalated: a person is awaited
            self.waiting_since, self.reminded = workflow.now(), False
        while True:
            customers = self.last_message
            message = self._with_queued(await self.next_message_by(self._deadline()))
            if message is not None and self._from_team(message):
                workflow.logger.info("support team replied in thread %s", self.start.thread_id)
                self.last_message = customers  # flow mail goes on to the customer's last mail
                await self.team_answer(message)
                continue
            if message is None and self._sla_restarted():
                continue
            if message is None and self._escalation_unanswered():
                # the customer waits for us: no "is it solved?", no auto-close; the SLA
                # counts from a person's answer
                metrics.waited_past_its_time(self.name, "escalation")
                self.waiting_since, self.reminded = workflow.now(), False
                continue
            if message is not None or self.complete_requested or self.reminded:
                self.waiting_before, self.waiting_since = self.waiting_since, None
                return message
            await self.mail("reminder", "Is your issue solved? Reply to let us know.\n")
            await self.stage("reminded")
            self.waiting_since, self.reminded = workflow.now(), True

    def _with_queued(self, message: NewMessage | None) -> NewMessage | None:
        """Everything the customer sent while we were busy is answered as one message, so
        a burst costs one answer and the backlog never grows (docs/architecture.md: handle queued
        messages in one step)."""
        if message is None or self._from_team(message):
            return message
        queued = [m for m in self.inbox if not self._from_team(m)]
        if not queued:
            return message
        for m in queued:
            self.inbox.remove(m)
        latest = queued[-1]
        texts = [m.text for m in (message, *queued)]
        merged = latest.model_copy(update={"text": "\n\n".join(texts)[-MAX_MERGED_TEXT:]})
        self.last_message = merged
        return merged

    def _from_team(self, message: NewMessage) -> bool:
        return message.from_addr.lower() in team_addresses(self.config.support_team)

    def _escalation_unanswered(self) -> bool:
        """A person was asked and nobody has answered yet."""
        return self.escalation_notices > 0 and not self.complete_requested

    def _sla_restarted(self) -> bool:
        """The alarm rang for a deadline a human answer has since moved: wait on."""
        return not self.complete_requested and workflow.now() < self._deadline()

    async def on_human_reply(self, reply: HumanReply) -> None:
        """A person answered: the customer's turn again, the SLA counted from now."""
        self.escalation_notices = 0
        self.remember_said(f"{reply.by} answered", reply.text)
        if self.waiting_since is not None and not reply.close:
            self.waiting_since, self.reminded = workflow.now(), False
            await self.stage("waiting_for_customer", f"SLA from {reply.by}'s answer")

    def _deadline(self) -> datetime:
        """When the SLA timer (reminder, then auto-close) runs out, counted from when the
        wait for the customer began."""
        limit = (
            self.config.sla_auto_close_after if self.reminded else self.config.sla_reminder_after
        )
        return (self.waiting_since or workflow.now()) + limit

    def _question(self, message: NewMessage) -> ClassifyRequest:
        return ClassifyRequest(
            mailbox=self.start.mailbox, subject=message.subject, text=message.text
        )


def _completed(flow: SupportFlow) -> str:
    """The stage note of an operator's completion: who and why, as `mailroom complete` gave."""
    request = flow.completion
    if request is None:
        return "completed by operator"
    return f"by {request.requested_by}: {request.reason}"


@workflow.defn(name="SupportFlow")
class SupportWorkflow(FlowWorkflow):
    """Support as a child workflow on its own task queue."""

    @workflow.init
    def __init__(self, start: FlowStart) -> None:
        self.runtime = SupportFlow(start, self.reporter(start))

    @workflow.run
    async def run(self, start: FlowStart) -> FlowProgress:
        return await self.run_resumably(start)
