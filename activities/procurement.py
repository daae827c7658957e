"""Procurement side effects: the policy check and the purchase-order ledger."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from use_cases.budgets import CheckBudget, budget_holder, budget_period_start, check_budget
from use_cases.flows import CreatePurchaseOrder, PolicyDecision, PurchaseOrder, PurchaseRequest
from use_cases.policy import PolicyRules, check_policy
from use_cases.ports import Ledger


class ProcurementActivities:
    def __init__(self, ledger: Ledger, rules: PolicyRules) -> None:
        self.ledger = ledger
        self.rules = rules

    @activity.defn(name="check_policy")
    async def check_policy(self, request: PurchaseRequest) -> PolicyDecision:
        return check_policy(request, self.rules)

    @activity.defn(name="check_budget")
    async def check_budget(self, check: CheckBudget) -> PolicyDecision:
        """This request against what its budget spent this month; run under the budget's
        lane, so no other order on that budget is made between this and its own."""
        holder = budget_holder(check.request)
        spent = await self.ledger.spent_since(holder, budget_period_start(datetime.now(UTC)))
        return check_budget(check.request, spent, check.budget)

    @activity.defn(name="create_purchase_order")
    async def create_purchase_order(self, order: CreatePurchaseOrder) -> PurchaseOrder:
        """Idempotent by the PO key the workflow fixed: a retry returns the same PO."""
        return await self.ledger.create_purchase_order(order)
