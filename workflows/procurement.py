"""Procurement: request → policy → approval → purchase order → confirmation (seeds 002, 003)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from use_cases.coordinator import COORDINATOR_INSTRUCTION, Instruction
    from use_cases.flows import (
        AWAITING_APPROVAL,
        ApprovalDecision,
        ExtractRequest,
        FlowProgress,
        FlowStart,
        PurchaseRequest,
    )
    from use_cases.models import CompleteRequest, NewMessage
    from use_cases.purchase_mails import (
        approval_request,
        closed_by_operator,
        completion_note,
        confirmation_request,
        corrected,
        decision_note,
        order_doubts,
        rejection,
        says_confirmed,
    )

from workflows import metrics
from workflows.agent_calls import AgentUnavailable
from workflows.flow_workflow import FlowWorkflow
from workflows.lanes import LaneInstructions
from workflows.purchase_orders import PurchaseOrders
from workflows.versions import BUDGET_LANE, changed

# Corrections the requester may send before the flow stops asking and cancels.
CONFIRMATION_ROUNDS = 3


class ProcurementFlow(PurchaseOrders):
    name = "procurement"

    async def run(self) -> FlowProgress:
        await self.stage("extracting")
        request = self._given() or await self._extract(self.start.first.text)
        if request is None:
            return await self._hand_to_human("the request could not be read automatically")
        if self.start.reopened and not request.items and request.budget is None:
            return await self.finish("noted", "a later message without a new request")
        while request.missing:
            request = await self._ask_for(request)
            if request is None:
                return await self._cancelled("no answer from the requester")
        if order_doubts(request, self.config.extraction_confidence):
            request = await self._confirmed(request)
            if request is None:
                return await self._cancelled("the requester did not confirm the order")
        await self.stage("policy_check")
        budget = self.config.budget_per_cost_centre
        if budget is not None and changed(BUDGET_LANE, self.start.history_format):
            return await self._within_budget(request, budget)
        policy = await self._policy(request)
        if not policy.allowed:
            return await self._denied(policy.reasons)
        if policy.needs_approval:
            undecided = await self._decided(request)
            if undecided is not None:
                return undecided
        return await self._order(request)

    async def _decided(self, request: PurchaseRequest) -> FlowProgress | None:
        """None once approved; else where the flow ended (expired, closed, rejected)."""
        decision = await self._approval(request)
        if decision is None:
            if self.complete_requested:
                return await self._closed()
            await self.mail("expired", "Your purchase request expired without a decision.\n")
            return await self.finish("expired")
        if not decision.approved:
            metrics.purchase_order("rejected")
            await self.mail("rejected", rejection(decision))
            return await self.finish("rejected", decision.reason)
        return None

    async def _cancelled(self, why: str) -> FlowProgress:
        if self.complete_requested:
            return await self._closed()
        return await self.finish("cancelled", why)

    async def _closed(self) -> FlowProgress:
        """Completed by an operator while waiting: the requester is told so, not "expired"."""
        request = self.completion or CompleteRequest()
        await self.mail("closed", closed_by_operator(request))
        return await self.finish("closed", completion_note(request))

    async def _confirmed(self, request: PurchaseRequest) -> PurchaseRequest | None:
        """The requester confirms the parsed order, or corrects it and is asked again."""
        doubts = order_doubts(request, self.config.extraction_confidence)
        for _ in range(CONFIRMATION_ROUNDS):
            await self.stage("awaiting_confirmation", "; ".join(doubts))
            await self.mail("confirm", confirmation_request(request, doubts))
            answer = await self._requester_answer()
            if answer is None:
                return None
            if says_confirmed(answer.text):
                return request
            await self.stage("extracting")
            fresh = "\n".join(
                ln for ln in answer.text.splitlines() if not ln.lstrip().startswith(">")
            )
            answer_read = await self._extract(fresh)
            if answer_read is None:
                return None
            request = corrected(request, answer_read)
            doubts = order_doubts(request, self.config.extraction_confidence) or [
                "your corrections: is the order right now?"
            ]
        return None

    def _given(self) -> PurchaseRequest | None:
        """A request given by `mailroom start procurement` (validated there): read as is."""
        if not self.start.input:
            return None
        fields = {k: v for k, v in self.start.input.items() if k in PurchaseRequest.model_fields}
        return PurchaseRequest.model_validate(fields)

    async def _extract(self, text: str) -> PurchaseRequest | None:
        try:
            return await self.ask(
                AgentActivities.extract_request,
                ExtractRequest(
                    requester=self.start.first.from_addr,
                    subject=self.start.first.subject,
                    text=text,
                ),
            )
        except AgentUnavailable:
            return None

    async def _ask_for(self, request: PurchaseRequest) -> PurchaseRequest | None:
        missing = " and ".join(request.missing)
        await self.stage("awaiting_info", missing)
        await self.mail(
            "question",
            f"Thank you for your request. Please reply with {missing}, so we can go on.\n",
        )
        answer = await self._requester_answer()
        if answer is None:
            return None
        await self.stage("extracting")
        merged = await self._extract(f"{request.text}\n{answer.text}")
        return merged

    async def _requester_answer(self) -> NewMessage | None:
        """The requester's next mail (others' are ignored), within approval_expires_after."""
        while True:
            answer = await self.next_message_by(workflow.now() + self.config.approval_expires_after)
            if answer is None or answer.from_addr == self.start.first.from_addr:
                return answer
            workflow.logger.info("ignored message from %s while awaiting info", answer.from_addr)

    async def _approval(self, request: PurchaseRequest) -> ApprovalDecision | None:
        await self.stage(AWAITING_APPROVAL, pending_approval=True)
        ask = approval_request(request, self.start.thread_id)
        await self._ask_approvers("approval", ask, f"Approval needed: {self.start.first.subject}")
        decision = await self._decision_within(self.config.approval_reminder_after)
        if decision is None and not self.complete_requested:
            metrics.waited_past_its_time(self.name, "approval")
            await self.refresh_settings()  # the reminder goes to the approvers of now
            await self._ask_approvers(
                "reminder",
                f"Reminder: a decision is still needed.\n\n{ask}",
                f"Reminder: approval needed: {self.start.first.subject}",
            )
            rest = self.config.approval_expires_after - self.config.approval_reminder_after
            decision = await self._decision_within(max(rest, timedelta(seconds=1)))
        await self.stage(
            "approved" if decision and decision.approved else "decided",
            decision_note(decision) if decision else "",
            pending_approval=False,
        )
        return decision

    async def _hand_to_human(self, why: str) -> FlowProgress:
        metrics.escalated(self.name)
        await self.mail("human", "Thank you; a colleague will look at your request.\n")
        return await self.finish("needs_human", why)


@workflow.defn(name="ProcurementFlow")
class ProcurementWorkflow(FlowWorkflow):
    """Procurement as a child workflow on its own task queue."""

    @workflow.init
    def __init__(self, start: FlowStart) -> None:
        self.lanes = LaneInstructions()
        self.runtime = ProcurementFlow(start, self.reporter(start), self.lanes)

    @workflow.run
    async def run(self, start: FlowStart) -> FlowProgress:
        return await self.run_resumably(start)

    @workflow.signal(name=COORDINATOR_INSTRUCTION)
    def coordinator_instruction(self, instruction: Instruction) -> None:
        """The coordinator's answers about the budget lane (workflows/budget_lane.py)."""
        self.lanes.on_instruction(instruction)
