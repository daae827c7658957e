"""What procurement tells people by mail, and what a requester's answer to "is this your
order?" means: pure text, so workflow replays build the same mails."""

from __future__ import annotations

import re

from use_cases.flows import STOPPED, ApprovalDecision, LineItem, PurchaseRequest, unquoted
from use_cases.models import CompleteRequest
from use_cases.money import format_money

# "confirm", "yes", "ok", "bestätigt", "passt" starting the answer's first line (quoted text
# and empty lines skipped), alone or with a few more words ("Yes, go ahead").
CONFIRM_WORDS = re.compile(
    r"^\W*(confirm(ed)?|yes|ok(ay)?|best(ä|ae)tigt|passt)\b(?P<rest>.*)$", re.IGNORECASE
)
# What turns a yes into a correction: "Yes, but …", "OK, except the chairs", "ok - change …"
CORRECTION_WORDS = re.compile(
    r"\b(but|aber|except|however|not|nicht|au(ß|ss)er|chang\w*|(ä|ae)nder\w*|instead|statt"
    r"|no|nein|only|nur|without|ohne|rather|lieber)\b|\d",
    re.IGNORECASE,
)
MAX_WORDS_AFTER_YES = 4
# What may follow a yes on its own lines: thanks and a sign-off, then a name
COURTESY_WORDS = (
    r"many|vielen|thanks?|you|very|much|so|thx|danke|dank|sch(ö|oe)n|sehr|cheers|regards|best"
    r"|kind|warm|viele|liebe|beste|gr(ü|ue)(ß|ss)e|gru(ß|ss)|mfg|lg|bye|ciao|und|and|have|a"
    r"|nice|day|greetings|sch(ö|oe)nen|tag|in advance|im voraus"
)
COURTESY = re.compile(
    rf"^\W*(({COURTESY_WORDS})\b\W*)+$"
    r"|^sent from (my )?[\w ]{1,40}$|^von meinem [\w ]{1,40} gesendet$",
    re.IGNORECASE,
)
MAX_NAME_WORDS = 3
# An amount of money in a correction ("budget EUR 500", "$1,200", "500 €"): no quantity.
MONEY = re.compile(
    r"(?:[€$£]|\b(?:eur|euros?|usd|dollars?|gbp|pounds?|chf)\b)\s*\d[\d.,']*"
    r"|\d[\d.,']*\s*(?:[€$£]|\b(?:eur|euros?|usd|dollars?|gbp|pounds?|chf)\b)",
    re.IGNORECASE,
)
# "6 statt 5", "6 instead of 5": the number replaced is the old quantity, not the new one.
REPLACED = re.compile(
    r"\b(?:instead of|rather than|statt|anstatt|anstelle von|not)\s+\d+\b", re.IGNORECASE
)
WHOLE_NUMBER = re.compile(r"(?<![\w.,])\d+(?![\w]|[.,]\d)")
DEFAULT_COMPLETE_REASON = CompleteRequest().reason


def order_doubts(request: PurchaseRequest, threshold: float) -> list[str]:
    """Why the requester should confirm what was read from their mail; empty: no need."""
    doubts = list(request.doubts)
    if request.confidence < threshold and not doubts:
        doubts.append("parts of the request could not be read with certainty")
    if request.items and request.budget == 0:
        doubts.append(f"a budget of {format_money(0, request.currency)} for the items")
    return doubts


def corrected(before: PurchaseRequest, answer: PurchaseRequest) -> PurchaseRequest:
    """The request after the requester's correction (`answer`: what was read from it alone):
    what the answer names replaces what was read before; the rest stays."""
    budget_given = answer.budget is not None
    return answer.model_copy(
        update={
            "requester": before.requester,
            "items": _named_items(answer) or _requantified(before, answer) or before.items,
            "budget": answer.budget if budget_given else before.budget,
            "currency": answer.currency if budget_given else before.currency,
            "deadline": answer.deadline or before.deadline,
            "supplier": answer.supplier or before.supplier,
            "cost_centre": answer.cost_centre or before.cost_centre,
            "text": f"{before.text}\n{answer.text}",
        }
    )


def _named_items(answer: PurchaseRequest) -> list[LineItem]:
    """The items the answer itself names: not the ones read from the subject when its
    text names none ("make it 6" in a thread about "5 laptops")."""
    text = answer.text.lower()
    if not text.strip():  # nothing to check against: what was read is what it names
        return answer.items
    named = [i for i in answer.items if any(w in text for w in i.description.lower().split())]
    return answer.items if named else []


def _requantified(before: PurchaseRequest, answer: PurchaseRequest) -> list[LineItem]:
    """ "Yes, but make it 6" to an order of one item: the answer's one whole number that is
    no money is the item's new quantity; with none or several, nothing is guessed."""
    if len(before.items) != 1:
        return []
    numbers = WHOLE_NUMBER.findall(REPLACED.sub(" ", MONEY.sub(" ", answer.text)))
    if len(numbers) != 1 or int(numbers[0]) == 0:
        return []
    return [before.items[0].model_copy(update={"quantity": int(numbers[0])})]


def says_confirmed(text: str) -> bool:
    """A plain yes: a first line that starts with a confirming word, with at most a few
    words more that name no number and no change ("OK, 5 monitors then", "Yes, but the
    blue ones" are corrections), and after it nothing but thanks and a signature."""
    lines = [ln.strip() for ln in unquoted(text).splitlines()]
    if "--" in lines:  # a signature below ("-- ", stripped)
        lines = lines[: lines.index("--")]
    lines = [ln for ln in lines if ln]
    first = CONFIRM_WORDS.match(lines[0]) if lines else None
    if first is None or CORRECTION_WORDS.search(lines[0]):
        return False
    if len(first["rest"].split()) > MAX_WORDS_AFTER_YES:
        return False
    return all(_courtesy(line, lines[1:index]) for index, line in enumerate(lines[1:], 1))


def _courtesy(line: str, before: list[str]) -> bool:
    """Thanks or a sign-off, or a name: a few capitalised words on the last line."""
    if CORRECTION_WORDS.search(line):
        return False
    if COURTESY.match(line):
        return True
    words = line.split()
    name = len(words) <= MAX_NAME_WORDS and all(w[:1].isupper() for w in words)
    return name and all(COURTESY.match(b) for b in before)


def order_lines(items: list[LineItem]) -> str:
    if not items:
        return "  (no items)"
    return "\n".join(f"  {_item(i)}" for i in items)


def _item(item: LineItem) -> str:
    return f"{item.quantity} {item.unit + ' ' if item.unit else 'x '}{item.description}"


def confirmation_request(request: PurchaseRequest, doubts: list[str]) -> str:
    """The parsed order, for the requester to confirm or correct."""
    details = [
        f"Budget: {format_money(request.budget, request.currency)}",
        f"Deadline: {request.deadline or '(none given)'}",
        f"Supplier: {request.supplier or '(none given)'}",
        f"Cost centre: {request.cost_centre or '(none given)'}",
    ]
    unsure = "".join(f"  - {d}\n" for d in doubts)
    return (
        "Before we go on, please check what we read from your request:\n\n"
        f"{order_lines(request.items)}\n" + "\n".join(details) + "\n\n"
        f"We are not sure about:\n{unsure}\n"
        "Reply 'confirm' if this is right, or reply with the corrections.\n"
    )


def approval_request(request: PurchaseRequest, thread_id: str) -> str:
    summary = ", ".join(_item(i) for i in request.items)
    return (
        f"{request.requester} asks to buy {summary} for a budget of "
        f"{format_money(request.budget, request.currency)}.\nReply 'approve' or 'reject', or "
        f"run `mailroom approve {thread_id}`.\n"
    )


def rejection(decision: ApprovalDecision) -> str:
    reason = f"\nReason: {decision.reason}" if decision.reason else ""
    return f"Your purchase request was rejected by {decision.by}.{reason}\n"


def decision_note(decision: ApprovalDecision) -> str:
    """The stage note of a decision: "by alice: within budget"."""
    return f"by {decision.by}: {decision.reason}" if decision.reason else f"by {decision.by}"


def closed_by_operator(request: CompleteRequest) -> str:
    why = request.reason.removeprefix(STOPPED).lstrip(": ").strip()  # `mailroom stop`'s
    given = why and request.reason != DEFAULT_COMPLETE_REASON
    reason = f"\nReason: {why}" if given else ""
    who = "" if request.requested_by in ("", "cli") else f" ({request.requested_by})"
    return f"Your purchase request was closed by an operator{who}.{reason}\n"


def completion_note(request: CompleteRequest) -> str:
    return f"by {request.requested_by}: {request.reason}"


def order_confirmation(po_number: str, items: list[LineItem], request: PurchaseRequest) -> str:
    return (
        f"Your purchase order {po_number} was created:\n{order_lines(items)}\n"
        f"Budget: {format_money(request.budget, request.currency)}\n"
    )
