"""Procurement's policy check and purchase order, and with a cumulative budget
(MAILROOM_BUDGET_PER_COST_CENTRE) both alone on the budget's lane (workflows/budget_lane.py):
the steps of ProcurementFlow that touch the ledger."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.procurement import ProcurementActivities
    from use_cases.budgets import BudgetHolder, CheckBudget, budget_holder
    from use_cases.flows import (
        CreatePurchaseOrder,
        FlowProgress,
        FlowStart,
        PolicyDecision,
        PurchaseOrder,
        PurchaseRequest,
    )
    from use_cases.purchase_mails import order_confirmation

from workflows import metrics
from workflows.approvals import ApprovalDecisions
from workflows.budget_lane import in_budget_lane
from workflows.flow import LEDGER_RETRY, LEDGER_TIMEOUT, Reporter
from workflows.lanes import LaneInstructions

# A budget section's outcome: the decision, and the order it made (None: none allowed yet).
Checked = tuple[PolicyDecision, PurchaseOrder | None]
Section = Callable[[], Awaitable[Checked]]


class PurchaseOrders(ApprovalDecisions):
    """Base of ProcurementFlow: checks and orders; the flow asks and waits."""

    def __init__(
        self, start: FlowStart, report: Reporter, lanes: LaneInstructions | None = None
    ) -> None:
        super().__init__(start, report)
        # the coordinator's answers, fed by the child workflow's signal handler; None inline
        # (the thread takes no coordinator signal): the budget is then checked off the lane
        self.lanes = lanes

    async def _policy(self, request: PurchaseRequest) -> PolicyDecision:
        return await workflow.execute_activity_method(
            ProcurementActivities.check_policy,
            request,
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
            task_queue=self.queue,
        )

    async def _denied(self, why: list[str], outcome: str = "rejected") -> FlowProgress:
        """outcome: rejected by the policy, or over_budget."""
        metrics.purchase_order(outcome)
        reasons = "; ".join(why)
        await self.mail("denied", f"We cannot process this purchase request: {reasons}.\n")
        return await self.finish("denied", reasons)

    async def _within_budget(self, request: PurchaseRequest, budget: float) -> FlowProgress:
        """The policy and budget checks, and the order they allow, alone on the budget's
        lane. Approval is waited for off the lane (it takes hours): other requests on the
        budget go on meanwhile."""
        holder = budget_holder(request)
        check = CheckBudget(request=request, budget=budget)

        over_budget = False

        async def checked_and_ordered() -> Checked:
            nonlocal over_budget
            policy = await self._policy(request)
            if policy.allowed:
                fits = await self._budget_check(check)
                over_budget = not fits.allowed
                policy = policy if fits.allowed else fits
            if not policy.allowed or policy.needs_approval:
                return policy, None
            return policy, await self._purchase_order(request)

        policy, order = await self._alone_on(holder, checked_and_ordered)
        if not policy.allowed:
            return await self._denied(policy.reasons, "over_budget" if over_budget else "rejected")
        if order is None:
            return await self._approved_within_budget(request, holder, check)
        return await self._confirmed_order(order, request)

    async def _approved_within_budget(
        self, request: PurchaseRequest, holder: BudgetHolder, check: CheckBudget
    ) -> FlowProgress:
        """Waits for approval off the lane; approved, checks the budget again and orders."""
        undecided = await self._decided(request)
        if undecided is not None:
            return undecided

        async def still_fits() -> Checked:
            fits = await self._budget_check(check)
            return fits, (await self._purchase_order(request)) if fits.allowed else None

        fits, order = await self._alone_on(holder, still_fits)
        if order is None:
            return await self._over_budget_once_approved(fits.reasons)
        return await self._confirmed_order(order, request)

    async def _alone_on(self, holder: BudgetHolder, section: Section) -> Checked:
        if self.lanes is None:  # inline in a thread, which takes no coordinator signal
            return await section()
        return await in_budget_lane(holder, self.lanes, section)

    async def _budget_check(self, check: CheckBudget) -> PolicyDecision:
        return await workflow.execute_activity_method(
            ProcurementActivities.check_budget,
            check,
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
            task_queue=self.queue,
        )

    async def _over_budget_once_approved(self, why: list[str]) -> FlowProgress:
        metrics.purchase_order("over_budget")
        reasons = "; ".join(why)
        await self.mail(
            "denied",
            f"Your purchase request was approved, but we cannot order it now: {reasons}.\n",
        )
        return await self.finish("denied", reasons)

    async def _order(self, request: PurchaseRequest) -> FlowProgress:
        return await self._confirmed_order(await self._purchase_order(request), request)

    async def _purchase_order(self, request: PurchaseRequest) -> PurchaseOrder:
        await self.stage("ordering")
        return await workflow.execute_activity_method(
            ProcurementActivities.create_purchase_order,
            CreatePurchaseOrder(
                po_key=f"{self.start.thread_id}/{self.start.first.message_id}",
                thread_id=self.start.thread_id,
                request=request,
            ),
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
            task_queue=self.queue,
        )

    async def _confirmed_order(
        self, order: PurchaseOrder, request: PurchaseRequest
    ) -> FlowProgress:
        metrics.purchase_order("ordered")
        await self.stage("ordered", order.po_number, facts={"po_number": order.po_number})
        await self.mail("confirmation", order_confirmation(order.po_number, order.items, request))
        return await self.finish("confirmed", order.po_number)

    @abstractmethod
    async def _decided(self, request: PurchaseRequest) -> FlowProgress | None:
        """None once approved; else where the flow ended (expired, closed, rejected)."""
