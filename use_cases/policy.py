"""Purchase policy: pure rules, applied by an activity so rules change without redeploying
workflow code (seed 002's `forbidden` case ends the flow)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from use_cases.flows import PolicyDecision, PurchaseRequest
from use_cases.money import format_money


class PolicyRules(BaseModel):
    blocked_words: list[str] = Field(default_factory=list)
    blocked_suppliers: list[str] = Field(default_factory=list)
    spend_limit_per_requester: float | None = None
    auto_approve_limit: float = 1_000.0


def check_policy(request: PurchaseRequest, rules: PolicyRules) -> PolicyDecision:
    reasons: list[str] = []
    text = " ".join([request.text, *(i.description for i in request.items)]).lower()
    for word in rules.blocked_words:
        if word.lower() in text:
            reasons.append(f"'{word}' may not be purchased")
    supplier = (request.supplier or "").lower()
    for blocked in rules.blocked_suppliers:
        if blocked.lower() in supplier or blocked.lower() in text:
            reasons.append(f"supplier '{blocked}' is blocked")
    limit = rules.spend_limit_per_requester
    if limit is not None and request.budget is not None and request.budget > limit:
        budget, most = (format_money(v, request.currency) for v in (request.budget, limit))
        reasons.append(f"a budget of {budget} is over the requester limit of {most}")
    if reasons:
        return PolicyDecision(allowed=False, reasons=reasons)
    over = request.budget is None or request.budget > rules.auto_approve_limit
    return PolicyDecision(allowed=True, needs_approval=over)
