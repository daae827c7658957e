"""The monthly budget per cost centre: whose budget a request spends, from when orders count,
and the denial that names what was spent, what is asked and the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from use_cases.budgets import (
    BudgetHolder,
    budget_holder,
    budget_period_start,
    check_budget,
)
from use_cases.flows import LineItem, PurchaseRequest


def request(budget: float, cost_centre: str | None = "4711") -> PurchaseRequest:
    return PurchaseRequest(
        requester="Bob@Example.com",
        items=[LineItem(description="chairs", quantity=2)],
        budget=budget,
        cost_centre=cost_centre,
    )


def test_a_request_spends_its_cost_centres_budget_in_any_spelling() -> None:
    assert budget_holder(request(1, " KST  4711 ")).lane == "budget:kst 4711"
    assert budget_holder(request(1, "kst 4711")).lane == "budget:kst 4711"
    assert budget_holder(request(1, "4711")).describe() == "cost centre 4711"


def test_a_request_without_a_cost_centre_spends_its_requesters_budget() -> None:
    for none in (None, "", "   "):
        holder = budget_holder(request(1, none))
        assert holder.lane == "budget:bob@example.com"
        assert holder.describe() == "Bob@Example.com"


def test_a_cost_centre_named_like_a_requester_is_another_budget() -> None:
    mine = BudgetHolder(requester="bob@example.com")
    assert mine.spends(None, "BOB@example.com")
    assert not mine.spends("bob@example.com", "someone@else")


def test_the_budget_counts_from_the_first_of_the_month_in_utc() -> None:
    late = datetime(2026, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # April in UTC
    assert budget_period_start(late) == datetime(2026, 4, 1, tzinfo=UTC)
    assert budget_period_start(datetime(2026, 4, 1, tzinfo=UTC)) == datetime(2026, 4, 1, tzinfo=UTC)


def test_a_request_that_fits_what_is_left_is_allowed() -> None:
    assert check_budget(request(400), spent=600, budget=1000).allowed
    assert check_budget(request(0.3), spent=0.1 + 0.2 - 0.3 + 0.7, budget=1).allowed


def test_a_request_over_what_is_left_is_denied_with_the_three_amounts() -> None:
    decision = check_budget(request(400.5), spent=600, budget=1000)
    assert not decision.allowed
    (reason,) = decision.reasons
    assert "EUR 400.50" in reason and "EUR 600.00" in reason and "EUR 1,000.00" in reason
    assert "cost centre 4711" in reason and "monthly budget" in reason


def test_a_denied_request_is_told_how_much_of_the_budget_is_left() -> None:
    (reason,) = check_budget(request(900), spent=900, budget=1500).reasons
    assert reason.endswith("budget EUR 1,500.00 (EUR 600.00 left)")
    (overspent,) = check_budget(request(10), spent=1200, budget=1000).reasons
    assert overspent.endswith("(EUR 0.00 left)")
