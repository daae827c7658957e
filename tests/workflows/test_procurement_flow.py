"""Procurement end to end inside Temporal (time-skipping), as child workflow and inline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.common import WorkflowIDReusePolicy

from adapters.outbound.ledger import SqliteLedger
from orchestrator.bootstrap import reply_token_key
from tests.support import wait_for
from tests.workflows.harness import Harness
from use_cases.decision_channel import decision_address, request_key
from use_cases.flows import ApprovalDecision, FlowConfig, FlowMode
from use_cases.mail import OutboundEmail
from use_cases.models import ThreadState, ThreadStatus

MAILBOX = "procurement@mailroom.local"
APPROVER = "boss@corp.example"
CFO = "cfo@corp.example"
SMALL = "Please order 3 monitors, budget EUR 600."
BIG = "Please quote 20 laptops, budget EUR 30 000, needed by 15 December."


def config(mode: FlowMode, reminder: timedelta, expiry: timedelta) -> FlowConfig:
    return FlowConfig(
        modes={"procurement": mode},
        approvers=(APPROVER, CFO),
        approval_reminder_after=reminder,
        approval_expires_after=expiry,
        # both ways of asking the agent and of sending mail covered
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )


def flow_config(mode: FlowMode, hurried: bool) -> FlowConfig:
    reminder, expiry = (
        (timedelta(seconds=1), timedelta(seconds=3))
        if hurried
        else (timedelta(days=1), timedelta(days=3))
    )
    return config(mode, reminder, expiry)


SETTINGS = {"blocked_words": ["weapons"]}


def ledger(h: Harness) -> SqliteLedger:
    return SqliteLedger(h.settings.data_dir / "ledger.sqlite")


async def finished(h: Harness, stage: str) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED and state.stage == stage else None


async def test_a_small_request_is_ordered_without_approval(harness: Harness) -> None:
    await harness.send(0, subject="Monitors", text=SMALL)
    state = await wait_for(lambda: finished(harness, "confirmed"), what="the confirmed order")
    orders = ledger(harness).purchase_orders()
    assert len(orders) == 1 and orders[0].po_number == state.facts["po_number"]
    assert [(i.quantity, i.description) for i in orders[0].items] == [(3, "monitors")]
    confirmation = harness.mails("confirmation")
    assert len(confirmation) == 1 and state.facts["po_number"] in confirmation[0].text
    assert confirmation[0].to == ("alice@example.com",)
    assert state.flow == "procurement"
    assert [c.stage for c in state.history][:2] == ["extracting", "policy_check"]


async def test_a_big_request_waits_for_approval_by_cli(harness: Harness) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    state = await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    assert state.pending_approval
    # The stage is reported before the approval request's send activity completes: wait for it.
    approval = await wait_for(lambda: _two(harness.mails("approval")), what="the requests")
    assert sorted(m.to for m in approval) == [(APPROVER,), (CFO,)]
    assert ledger(harness).purchase_orders() == []
    await harness.gateway.decide(harness.thread_id, ApprovalDecision(approved=True, by="cli"))
    state = await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    assert len(ledger(harness).purchase_orders()) == 1 and not state.pending_approval


async def test_only_an_approval_through_the_approvers_signed_address_counts(
    harness: Harness,
) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    requests = await wait_for(lambda: _two(harness.mails("approval")), what="the requests")
    key = reply_token_key(harness.settings)
    request = request_key(harness.root)
    # sent in parallel: in either order
    assert sorted((m.to, m.reply_to) for m in requests) == sorted(
        ((a,), decision_address(harness.thread_id, request, a, key)) for a in (APPROVER, CFO)
    ), "one request per approver, each with the approver's own signed address"

    await harness.send(1, from_addr="mallory@corp.example", text="approve\n> quoted")
    # Anyone can write From: the approver; the ingest found no signed address for it.
    await harness.send(2, from_addr=APPROVER, text="Approved, go ahead.\n")
    await harness.send(3, from_addr=APPROVER, text="approve, really\n")
    state = await wait_for(lambda: _refused(harness, 3), what="all three refused")
    assert [(r.from_addr, r.approved) for r in state.refused_decisions] == [
        ("mallory@corp.example", True),
        (APPROVER, True),
        (APPROVER, True),
    ]
    assert state.stage == "awaiting_approval" and ledger(harness).purchase_orders() == []
    notices = await wait_for(lambda: harness.mails("decision-refused"), what="the notice")
    assert [m.to for m in notices] == [(APPROVER,)], "the approver in From is told, once"
    assert notices[0].reply_to == decision_address(harness.thread_id, request, APPROVER, key)

    signed = {"decided_by": APPROVER, "decision_request": request}
    await harness.send(4, from_addr=APPROVER, text="Approved.\n", **signed)
    await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    assert len(ledger(harness).purchase_orders()) == 1


async def test_a_signed_address_decides_only_for_its_approver_and_its_request(
    harness: Harness,
) -> None:
    """Forwarded to someone else, even another approver, or kept from an earlier purchase
    in the same thread, a decision address decides nothing."""
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    request = request_key(harness.root)
    await harness.send(
        1, from_addr=CFO, decided_by=APPROVER, decision_request=request, text="approve"
    )
    earlier = request_key("<an earlier purchase@example.com>")
    await harness.send(
        2, from_addr=APPROVER, decided_by=APPROVER, decision_request=earlier, text="approve"
    )
    state = await wait_for(lambda: _refused(harness, 2), what="both refused")
    assert state.stage == "awaiting_approval" and ledger(harness).purchase_orders() == []


async def _refused(h: Harness, count: int) -> ThreadState | None:
    state = await h.state()
    return state if len(state.refused_decisions) >= count else None


async def test_a_rejection_ends_the_flow_without_an_order(harness: Harness) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    await harness.gateway.decide(
        harness.thread_id, ApprovalDecision(approved=False, by="cli", reason="too pricey")
    )
    await wait_for(lambda: finished(harness, "rejected"), what="the rejection")
    assert ledger(harness).purchase_orders() == []
    assert "too pricey" in harness.mails("rejected")[0].text


async def test_a_policy_denial_ends_the_flow_politely(harness: Harness) -> None:
    await harness.send(0, subject="Order", text="Please buy 2 weapons, budget EUR 100.")
    await wait_for(lambda: finished(harness, "denied"), what="the denial")
    assert "'weapons' may not be purchased" in harness.mails("denied")[0].text
    assert ledger(harness).purchase_orders() == []


async def test_missing_information_is_asked_for_then_the_answer_completes_it(
    harness: Harness,
) -> None:
    await harness.send(0, subject="Order", text="Please buy 4 keyboards.")
    state = await wait_for(lambda: harness.at_stage("awaiting_info"), what="the question")
    question = await wait_for(lambda: harness.mails("question"), what="the question mail")
    assert "the budget" in question[0].text
    assert state.history[-1].note == "the budget"
    await harness.send(1, text="Budget is EUR 200.\n> Please reply with the budget")
    await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    assert ledger(harness).purchase_orders()[0].total == 200


async def test_an_unanswered_approval_is_reminded_then_expires(hurried: Harness) -> None:
    harness = hurried
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    final = await wait_for(lambda: finished(harness, "expired"), what="the expiry")
    assert (final.status, final.stage) == (ThreadStatus.COMPLETED, "expired")
    assert [m.to for m in harness.mails("reminder")] == [(APPROVER,), (CFO,)]
    assert len(harness.mails("expired")) == 1 and ledger(harness).purchase_orders() == []
    stages = [(c.stage, c.at) for c in final.history]
    waited = stages[-1][1] - next(at for stage, at in stages if stage == "awaiting_approval")
    assert timedelta(seconds=3) <= waited < timedelta(seconds=10)


async def test_approving_a_thread_that_waits_for_nothing_is_refused(harness: Harness) -> None:
    from use_cases.ports import NothingToDecide

    await harness.send(0, subject="Monitors", text=SMALL)
    await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    with pytest.raises(NothingToDecide):
        await harness.gateway.decide(harness.thread_id, ApprovalDecision(approved=True, by="x"))


async def test_a_late_first_mail_after_the_order_is_noted_not_asked_about(
    harness: Harness,
) -> None:
    """The answer came first (a retried mail can overtake the one before it) and its flow
    ordered; the request, still without items or budget, arrives while the thread is
    completing, so a second flow starts in the same run. It is a follow-up, not a new
    request: noted, and the requester is not asked for what they already sent."""
    ordered_earlier = ThreadState(
        thread_id=harness.thread_id,
        workflow_id=harness.thread_id,
        mailbox=MAILBOX,
        flow="procurement",
        flows_started=1,
        stage="confirmed",
        message_ids=["<m1-answer@example.com>"],
    )
    request = harness.message(0, subject="Monitors", text="Hello, we need new monitors.")
    await harness.gateway._signal_with_start(
        harness.key, request, ordered_earlier, WorkflowIDReusePolicy.ALLOW_DUPLICATE
    )
    state = await wait_for(lambda: finished(harness, "noted"), what="the late mail noted")
    assert state.flows_started == 2
    assert harness.mails("question") == []


def _two(mails: list[OutboundEmail]) -> list[OutboundEmail] | None:
    return mails if len(mails) >= 2 else None


async def test_a_sender_our_mta_vouches_for_still_needs_the_signed_address(
    harness: Harness,
) -> None:
    """DMARC at the operator's MTA proves the domain sent some mail, not this decision: an
    approver's old signed "Approved" can be sent again into any thread."""
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    await harness.send(1, from_addr=CFO, from_authenticated=True, text="Approved.")
    state = await wait_for(lambda: _refused(harness, 1), what="the refusal")
    assert state.stage == "awaiting_approval" and ledger(harness).purchase_orders() == []
