"""Support with people in the loop (issue 20): an answer is never sent twice, a follow-up
saying it did not help goes to a person, the team is told with the conversation so far,
and a team member's reply through their own signed address is sent to the customer."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from use_cases.agent_answers import NOTICE_MARKER, agent_answer, quotes_notice
    from use_cases.decision_channel import request_key
    from use_cases.flows import (
        ClassifyRequest,
        KbAnswer,
        Triage,
        answer_keys,
        says_not_helped,
        team_addresses,
        unquoted,
    )
    from use_cases.models import HumanReply, NewMessage
    from use_cases.replies import reply_message_id
    from use_cases.tickets import ticket_reference

from workflows import metrics
from workflows.agent_calls import AgentUnavailable
from workflows.flow import ESCALATION_NOTICE, FlowRuntime

# A customer writing on while nobody answered yet: the team hears of the first few mails,
# not of every one of a robot's echoes (notices go to the team uncapped).
MAX_NOTICES_PER_ESCALATION = 3
REMEMBERED_ANSWERS = 50
CONVERSATION_ENTRIES = 12
ENTRY_CHARS = 2_000
NOTICE_CONVERSATION_CHARS = 8_000
WROTE_AGAIN = "the customer wrote again"


class SupportHumans(FlowRuntime):
    answers_sent: list[str]
    conversation: list[str]
    escalation_notices: int  # of the current escalation; 0: no person asked since answered
    queued_at_answer: set[str]

    async def respond(self, message: NewMessage, triage: Triage) -> None:
        """Answer from the knowledge base, unless that answer was sent already or the
        customer says it did not help: then a person takes over. Mail written before our
        last answer went out that the same answer covers needs nothing more."""
        self.remember_said(f"{message.from_addr} wrote", unquoted(message.text))
        if self.escalation_notices:  # a person is asked already: no answer of ours between
            return await self.escalate(message, triage, WROTE_AGAIN)
        early = message.message_id in self.queued_at_answer
        if self.answers_sent and not early and says_not_helped(message):
            return await self.escalate(message, triage, "the customer says it did not help")
        kb = await self._kb(message)
        if not kb.answer or kb.confidence < self.config.kb_confidence:
            return await self.escalate(message, triage, "no confident answer in the knowledge base")
        if any(key in self.answers_sent for key in answer_keys(kb)):
            if early:
                workflow.logger.info("%s is answered by the answer sent", message.message_id)
                return None
            return await self.escalate(message, triage, "the knowledge base has no other answer")
        await self._answer(kb)
        return None

    async def _kb(self, message: NewMessage) -> KbAnswer:
        question = ClassifyRequest(
            mailbox=self.start.mailbox, subject=message.subject, text=message.text
        )
        try:
            return await self.ask(AgentActivities.answer_from_kb, question)
        except AgentUnavailable:  # the agent kept failing: a human takes over, never a guess
            return KbAnswer()

    async def _answer(self, kb: KbAnswer) -> None:
        text = f"{kb.answer}\n\nIf this solved it, reply 'solved'.\n"
        # Mail that came while this answer was being found was written without it; what
        # comes while it is sent may answer it, so counts as after it.
        self.queued_at_answer = {m.message_id for m in self.inbox}
        await self.mail("answer", text)
        self.answers_sent = [*self.answers_sent, *answer_keys(kb)][-REMEMBERED_ANSWERS:]
        self.remember_said("We answered", text)
        await self.stage("answered", kb.article or "")

    async def escalate(self, message: NewMessage, triage: Triage, why: str) -> None:
        """Each team member gets a notice with the conversation, answerable through their
        own signed address; the customer is told once per escalation."""
        team = team_addresses(self.config.support_team)
        if team and self.escalation_notices < MAX_NOTICES_PER_ESCALATION:
            notice = self._notice(triage, why)
            subject = f"[{triage.priority}] {message.subject}"
            for agent in team:
                await self.mail(
                    ESCALATION_NOTICE, notice, to=(agent,), subject=subject, decision_of=agent
                )
        if not self.escalation_notices:
            metrics.escalated(self.name)
            name = self.start.first.from_name
            await self.mail(
                "escalated",
                f"Hello{' ' + name if name else ''},\n\n"
                "A member of our support team will answer you shortly.\n",
            )
        self.escalation_notices += 1
        await self.stage("escalated", f"{triage.category}: {why}")

    def _notice(self, triage: Triage, why: str) -> str:
        transcript = "\n\n".join(self.conversation)[-NOTICE_CONVERSATION_CHARS:]
        reference = ticket_reference(self.start.thread_id)
        return (
            f"{NOTICE_MARKER}\n\n"
            f"Priority {triage.priority}, category {triage.category}: {why}.\n\n"
            f"To answer {self.start.first.from_addr}, reply to this mail: what you write above "
            "the marker line is sent to them as our answer. Or run `mailroom reply "
            f"#{reference} --body TEXT`.\n\nThe conversation so far:\n\n{transcript}\n"
        )

    def remember_said(self, who: str, text: str) -> None:
        entry = f"{who}:\n{text.strip()[:ENTRY_CHARS]}"
        self.conversation = [*self.conversation, entry][-CONVERSATION_ENTRIES:]

    async def team_answer(self, message: NewMessage) -> None:
        """A team member's mail goes to the customer only through the address signed for
        that member and this thread's request: a From: anyone can write is not enough."""
        sender = message.from_addr.lower()
        signed = (
            bool(sender)
            and message.decided_by.lower() == sender
            and message.decision_request == request_key(self.start.first.message_id)
        )
        text = agent_answer(message)
        why = "" if signed else "not through their signed reply address"
        why = why or ("" if text else "no text above the notice")
        why = why or ("it quotes the internal notice" if quotes_notice(text) else "")
        if why:
            workflow.logger.warning(
                "not forwarding %s from %s: %s", message.message_id, message.from_addr, why
            )
            if signed:  # the agent meant to answer: the thread's history says it was not sent
                await self.note("answer not sent", f"from {sender}: {why}")
            return
        message_id = reply_message_id(
            f"{self.name}-agent-answer", message.message_id, self.start.mailbox
        )
        reply = HumanReply(text=text, by=sender, message_id=message_id, at=workflow.now())
        await self.human_reply(reply)
