"""The cumulative budget (MAILROOM_BUDGET_PER_COST_CENTRE): what one cost centre may order in
a calendar month (UTC), all its orders together. A request without a cost centre spends its
requester's budget. Two requests on one budget are checked and ordered one at a time, under
the coordinator's lane `budget:<holder>` (workflows/procurement.py), so that both cannot see
the same money left.

Amounts are added as written, whatever their currency (no conversion): a deployment with
budgets in several currencies keeps to one per cost centre.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel

from use_cases.flows import PolicyDecision, PurchaseRequest
from use_cases.money import format_money

LANE_PREFIX = "budget:"


class BudgetHolder(BaseModel):
    """Whose budget a request spends: its cost centre, else its requester."""

    cost_centre: str | None = None
    requester: str

    @property
    def key(self) -> str:
        """The same for every spelling people use: " KST-4711 " and "kst-4711" are one."""
        if self.cost_centre:
            return " ".join(self.cost_centre.split()).casefold()
        return self.requester.strip().casefold()

    @property
    def lane(self) -> str:
        return f"{LANE_PREFIX}{self.key}"

    def spends(self, cost_centre: str | None, requester: str) -> bool:
        """True when an order of `requester` on `cost_centre` came out of this budget."""
        ordered = BudgetHolder(cost_centre=cost_centre, requester=requester)
        return bool(ordered.cost_centre) == bool(self.cost_centre) and ordered.key == self.key

    def describe(self) -> str:
        if self.cost_centre:
            return f"cost centre {' '.join(self.cost_centre.split())}"
        return self.requester.strip()


def budget_holder(request: PurchaseRequest) -> BudgetHolder:
    cost_centre = (request.cost_centre or "").strip() or None
    return BudgetHolder(cost_centre=cost_centre, requester=request.requester)


def budget_period_start(now: datetime) -> datetime:
    """The budget counts orders since the first of this month, midnight UTC."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class CheckBudget(BaseModel):
    """The budget check the workflow asks for, with the budget its settings gave it."""

    request: PurchaseRequest
    budget: float


def check_budget(request: PurchaseRequest, spent: float, budget: float) -> PolicyDecision:
    """Allowed when what was spent and this request together stay within the budget;
    else denied with the three amounts, so the requester sees why."""
    asked = Decimal(str(request.budget or 0))
    if Decimal(str(spent)) + asked <= Decimal(str(budget)):
        return PolicyDecision(allowed=True)
    left = max(Decimal(0), Decimal(str(budget)) - Decimal(str(spent)))
    money = [format_money(v, request.currency) for v in (asked, spent, budget, left)]
    holder = budget_holder(request).describe()
    # what is left tells the requester what a smaller request could still order
    reason = (
        f"this request ({money[0]}) would take {holder} over its monthly budget: "
        f"{money[1]} already ordered this month, budget {money[2]} ({money[3]} left)"
    )
    return PolicyDecision(allowed=False, reasons=[reason])
