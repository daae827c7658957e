"""Procurement with people in the loop (time-skipping, child and inline): an unsure
extraction is confirmed by the requester first; operators' decisions and completions are
told as they were made; money reads as money."""

from __future__ import annotations

from datetime import timedelta

from adapters.agents.rules import RuleBasedAgent
from adapters.outbound.ledger import SqliteLedger
from tests.support import wait_for
from tests.workflows.harness import Harness
from use_cases.flows import ApprovalDecision, ExtractRequest, FlowConfig, FlowMode, PurchaseRequest
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus

MAILBOX = "procurement@mailroom.local"
EXPIRY = timedelta(days=3)
HURRIED_EXPIRY = timedelta(seconds=3)
UNSURE = "Please order about 3 monitors, budget EUR 600."
BIG = "Please quote 20 laptops, budget EUR 30 000, needed by 15 December."


class UnsureAgent(RuleBasedAgent):
    """Reads like the offline agent, but doubts an "about" as a model would."""

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        read = await super().extract_request(request)
        if "about" not in request.text:
            return read
        return read.model_copy(update={"confidence": 0.6, "doubts": ["the quantity ('about')"]})


def flow_config(mode: FlowMode, hurried: bool) -> FlowConfig:
    return FlowConfig(
        modes={"procurement": mode},
        approval_reminder_after=HURRIED_EXPIRY / 3 if hurried else EXPIRY / 3,
        approval_expires_after=HURRIED_EXPIRY if hurried else EXPIRY,
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )


SETTINGS = {"agent": UnsureAgent()}


async def finished(h: Harness, stage: str) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED and state.stage == stage else None


def orders(h: Harness) -> list[tuple[int, str]]:
    ledger = SqliteLedger(h.settings.data_dir / "ledger.sqlite")
    return [(i.quantity, i.description) for po in ledger.purchase_orders() for i in po.items]


async def _mails(h: Harness, purpose: str, count: int) -> list[str] | None:
    texts = [m.text for m in h.mails(purpose)]
    return texts if len(texts) >= count else None


async def test_an_unsure_request_is_ordered_once_the_requester_confirms(harness: Harness) -> None:
    await harness.send(0, subject="Monitors", text=UNSURE)
    state = await wait_for(lambda: harness.at_stage("awaiting_confirmation"), what="the question")
    assert state.history[-1].note == "the quantity ('about')"
    (asked,) = await wait_for(lambda: _mails(harness, "confirm", 1), what="the confirmation mail")
    assert "3 x monitors" in asked and "Budget: EUR 600.00" in asked
    assert "the quantity ('about')" in asked and "Reply 'confirm'" in asked
    assert orders(harness) == [], "nothing is ordered before the requester confirms"

    await harness.send(1, from_addr="mallory@example.net", text="confirm")  # not the requester
    await harness.send(2, text="Yes, that's right.\n> Reply 'confirm' if this is right")
    await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    assert orders(harness) == [(3, "monitors")]


async def test_a_correction_is_read_again_and_confirmed_again(harness: Harness) -> None:
    await harness.send(0, subject="Monitors", text=UNSURE)
    await wait_for(lambda: _mails(harness, "confirm", 1), what="the first confirmation mail")
    await harness.send(1, text="No: 5 monitors.\n> 3 x monitors")
    texts = await wait_for(lambda: _mails(harness, "confirm", 2), what="the second one")
    assert "5 x monitors" in texts[1]
    await harness.send(2, text="Passt, danke")
    await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    assert orders(harness) == [(5, "monitors")]


async def test_an_unconfirmed_request_is_cancelled_when_it_expires(hurried: Harness) -> None:
    harness = hurried  # the dev server, with an expiry of seconds
    await harness.send(0, subject="Monitors", text=UNSURE)
    await wait_for(lambda: _mails(harness, "confirm", 1), what="the confirmation mail")
    state = await wait_for(lambda: finished(harness, "cancelled"), what="the cancellation")
    assert state.history[-1].note == "the requester did not confirm the order"
    assert orders(harness) == []


async def test_completing_a_purchase_waiting_for_approval_tells_the_requester(
    harness: Harness,
) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    request = CompleteRequest(reason="bought it elsewhere", requested_by="alice")
    await harness.gateway.complete(harness.thread_id, request)
    state = await wait_for(lambda: finished(harness, "closed"), what="the closed purchase")
    assert state.completed_reason == "bought it elsewhere"
    assert state.history[-1].note == "by alice: bought it elsewhere"
    (closed,) = await wait_for(lambda: _mails(harness, "closed", 1), what="the notice")
    assert "closed by an operator (alice)" in closed and "Reason: bought it elsewhere" in closed
    assert harness.mails("expired") == [], "not 'expired without a decision'"


async def test_an_approval_note_and_money_read_as_people_write_them(harness: Harness) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    decision = ApprovalDecision(approved=True, by="alice", reason="within budget")
    await harness.gateway.decide(harness.thread_id, decision)
    state = await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    approved = next(c for c in state.history if c.stage == "approved")
    assert approved.note == "by alice: within budget"
    (confirmation,) = await wait_for(lambda: _mails(harness, "confirmation", 1), what="PO")
    assert "Budget: EUR 30,000.00" in confirmation


async def test_a_rejection_says_who_and_why(harness: Harness) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    decision = ApprovalDecision(approved=False, by="bob", reason="too pricey")
    await harness.gateway.decide(harness.thread_id, decision)
    await wait_for(lambda: finished(harness, "rejected"), what="the rejection")
    (rejected,) = await wait_for(lambda: _mails(harness, "rejected", 1), what="the mail")
    assert "rejected by bob.\nReason: too pricey" in rejected


async def test_completing_a_purchase_waiting_for_details_tells_the_requester(
    harness: Harness,
) -> None:
    await harness.send(0, subject="Order", text="Please buy 4 keyboards.")
    await wait_for(lambda: harness.at_stage("awaiting_info"), what="the question")
    await harness.gateway.complete(harness.thread_id, CompleteRequest())
    state = await wait_for(lambda: finished(harness, "closed"), what="the closed purchase")
    assert state.history[-1].note == "by cli: completed by operator"
    (closed,) = await wait_for(lambda: _mails(harness, "closed", 1), what="the notice")
    assert closed == "Your purchase request was closed by an operator.\n"
