"""Support: triage → answer from the knowledge base or escalate → wait for the customer →
resolved, with an SLA reminder and auto-close (seed 003)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from use_cases.flows import ClassifyRequest, FlowProgress, KbAnswer, Triage, says_solved
    from use_cases.models import NewMessage

from workflows.flow import AGENT_RETRY, AGENT_TIMEOUT, FlowRuntime


class SupportFlow(FlowRuntime):
    name = "support"

    async def run(self) -> FlowProgress:
        triage = await self._triage(self.start.first)
        await self.stage("triaged", f"{triage.category}/{triage.priority}")
        message: NewMessage | None = self.start.first
        while message is not None:
            if message is not self.start.first and says_solved(message):
                await self.mail("thanks", "Glad it is solved; we close this thread now.\n")
                return await self.finish("resolved", "the customer says it is solved")
            await self._answer_or_escalate(message, triage)
            message = await self._wait_for_customer()
        if self.complete_requested:
            return await self.finish("resolved", "completed by operator")
        await self.mail(
            "closed",
            "We closed this thread after hearing nothing back. Reply to this mail to re-open it.\n",
        )
        return await self.finish("closed", "auto-closed after silence")

    async def _triage(self, message: NewMessage) -> Triage:
        try:
            return await workflow.execute_activity_method(
                AgentActivities.triage,
                self._question(message),
                start_to_close_timeout=AGENT_TIMEOUT,
                retry_policy=AGENT_RETRY,
            )
        except ActivityError:
            return Triage(category="unknown", priority="normal")

    async def _answer_or_escalate(self, message: NewMessage, triage: Triage) -> None:
        try:
            kb = await workflow.execute_activity_method(
                AgentActivities.answer_from_kb,
                self._question(message),
                start_to_close_timeout=AGENT_TIMEOUT,
                retry_policy=AGENT_RETRY,
            )
        except ActivityError:  # the agent kept failing: a human takes over, never a guess
            kb = KbAnswer()
        if kb.answer and kb.confidence >= self.config.kb_confidence:
            await self.mail("answer", f"{kb.answer}\n\nIf this solved it, reply 'solved'.\n")
            await self.stage("answered", kb.article or "")
            return
        if self.config.support_team:
            await self.mail(
                "escalation",
                f"Priority {triage.priority}, category "
                f"{triage.category}.\n\n{message.from_addr} wrote:\n{message.text}",
                to=(self.config.support_team,),
                subject=f"[{triage.priority}] {message.subject}",
            )
        await self.mail("escalated", "A member of our support team will answer you shortly.\n")
        await self.stage("escalated", triage.category)

    async def _wait_for_customer(self) -> NewMessage | None:
        await self.stage("waiting_for_customer")
        for reminded in (False, True):
            timeout = (
                self.config.sla_auto_close_after if reminded else self.config.sla_reminder_after
            )
            while True:
                message = await self.next_message(timeout)
                if message is None or message.from_addr != self.config.support_team:
                    break
                workflow.logger.info("support team replied in thread %s", self.start.thread_id)
            if message is not None or self.complete_requested:
                return message
            if not reminded:
                await self.mail("reminder", "Is your issue solved? Reply to let us know.\n")
                await self.stage("reminded")
        return None

    def _question(self, message: NewMessage) -> ClassifyRequest:
        return ClassifyRequest(
            mailbox=self.start.mailbox, subject=message.subject, text=message.text
        )
