"""Approvers' decisions for a flow: one signed request per approver, the wait for a decision,
and emailed decisions that did not come through the approver's signed address refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.decision_channel import request_key
    from use_cases.flows import ApprovalDecision, FlowStart, emailed_decision
    from use_cases.models import NewMessage, RefusedDecision, remember_refused

from workflows.flow import FlowRuntime, Reporter


class ApprovalDecisions(FlowRuntime):
    """Base of a flow that asks approvers (ProcurementFlow)."""

    def __init__(self, start: FlowStart, report: Reporter) -> None:
        super().__init__(start, report)
        self._told: set[str] = set()  # approvers told of a decision refused in their name
        self._asked: set[str] = set()  # approvers sent this request
        self._request: tuple[str, str] | None = None  # what they were asked: text, subject

    async def _ask_approvers(self, purpose: str, ask: str, subject: str) -> None:
        """One mail per approver, each answerable only through its own signed address."""
        self._request = (ask, subject)
        approvers = [a.lower() for a in self.config.approvers]
        self._asked.update(approvers)
        # independent sends: in parallel (each mail's Message-ID is fixed before its await)
        await asyncio.gather(
            *(self.mail(purpose, ask, to=(a,), subject=subject, decision_of=a) for a in approvers)
        )

    async def _approvers_now(self) -> None:
        """The worker's approvers now (MAILROOM_APPROVERS changed and a worker restarted):
        one added since the request went out gets it; one removed can no longer decide."""
        if not await self.refresh_settings() or self._request is None:
            return
        ask, subject = self._request
        for approver in self.config.approvers:
            approver = approver.lower()
            if approver not in self._asked:
                self._asked.add(approver)
                await self.mail(
                    "approval", ask, to=(approver,), subject=subject, decision_of=approver
                )

    async def _decision_within(self, timeout: timedelta) -> ApprovalDecision | None:
        deadline = workflow.now() + timeout
        while self.decision is None and not self.complete_requested:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                return None
            try:
                await workflow.wait_condition(
                    lambda: (
                        self.decision is not None or bool(self.inbox) or self.complete_requested
                    ),
                    timeout=remaining,
                )
            except TimeoutError:
                return None
            if self.inbox:
                await self._approvers_now()
            while self.inbox and self.decision is None:
                await self._consider(self.inbox.popleft())
        return self.decision

    async def _consider(self, message: NewMessage) -> None:
        decision = emailed_decision(message)
        if decision is None:
            return
        sender = message.from_addr.lower()
        signed = (
            bool(sender)
            and message.decided_by.lower() == sender
            and message.decision_request == request_key(self.start.first.message_id)
        )
        # Not "our MTA vouched for the sender" (RFC 8601): that proves the domain sent some
        # mail, and an approver's old signed "Approved" can be sent again into any thread.
        if signed and sender in self._approvers:
            self.decision = decision
            return
        await self._refuse(message, decision, claimed=sender in self._approvers)

    @property
    def _approvers(self) -> set[str]:
        return {a.lower() for a in self.config.approvers}

    async def _refuse(self, message: NewMessage, decision: ApprovalDecision, claimed: bool) -> None:
        """Recorded in the thread, never acted on. An approver named in From is told once
        per request, at the address on file, with a signed Reply-To to decide by: the mail
        may be a forgery in their name, or their reply sent without the signed address."""
        why = (
            "not sent to the approver's signed decision address for this request"
            if claimed
            else "not an approver"
        )
        workflow.logger.warning("refused an emailed decision from %s: %s", message.from_addr, why)
        refused = RefusedDecision(
            message_id=message.message_id,
            from_addr=message.from_addr,
            approved=decision.approved,
            at=workflow.now(),
            why=why,
        )
        self.progress = self.progress.model_copy(
            update={"refused_decisions": remember_refused(self.progress.refused_decisions, refused)}
        )
        await self.report(self.progress)
        approver = message.from_addr.lower()
        if not claimed or approver in self._told:
            return
        self._told.add(approver)
        await self.mail(
            "decision-refused",
            f"We received a decision in your name ({message.message_id}) that did not come "
            "through your own approval address, so it was not acted on.\nTo decide, reply "
            f"'approve' or 'reject' to this mail, or run `mailroom approve "
            f"{self.start.thread_id}`.\n",
            to=(approver,),
            subject=f"Decision not accepted: {self.start.first.subject}",
            decision_of=approver,
        )
