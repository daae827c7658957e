"""Supplier invoices end to end inside Temporal (time-skipping): read, matched against the
ledger's purchase order, booked once; a mismatch goes to an approver by the signed channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.decision_channel import request_key
from use_cases.flows import CreatePurchaseOrder, FlowConfig, FlowMode, LineItem, PurchaseRequest
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus

MAILBOX = "invoices@mailroom.local"
APPROVER = "boss@corp.example"
SUPPLIER = "billing@acme.example"


def invoice(total: str, number: str = "INV-2026-0042", po: str = "PO-2026-00001") -> str:
    return (
        "ACME Office Supplies Ltd\nINVOICE\n"
        f"Invoice No.: {number}\nInvoice date: 2026-03-02\nYour order: {po}\n"
        f"5 x Laptop stand\nTotal due                             EUR {total}\n"
    )


@pytest.fixture(params=[FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def harness(
    request: pytest.FixtureRequest,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    mode = FlowMode(request.param)
    config = FlowConfig(
        modes={"invoices": mode},
        approvers=(APPROVER,),
        approval_expires_after=timedelta(days=3),
        outbox_in_process=mode is FlowMode.INLINE,
    )
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        ledger = SqliteLedger(tmp_path / "ledger.sqlite")
        order = PurchaseRequest(
            requester="kim@corp.example",
            items=[LineItem(description="Laptop stand", quantity=5)],
            budget=1190.0,
            currency="EUR",
            supplier="ACME Office Supplies",
        )
        created = await ledger.create_purchase_order(
            CreatePurchaseOrder(po_key="k1", thread_id="t1", request=order)
        )
        assert created.po_number == "PO-2026-00001" or created.po_number.endswith("00001")
        yield h


async def finished(h: Harness, stage: str) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED and state.stage == stage else None


async def test_an_invoice_matching_its_order_is_booked_and_confirmed(harness: Harness) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text=invoice("1,190.00"))
    state = await wait_for(lambda: finished(harness, "booked"), what="the booking")
    assert state.flow == "invoices" and state.facts["po_number"].endswith("00001")
    confirmation = await wait_for(lambda: harness.mails("booked"), what="the confirmation")
    assert confirmation[0].to == (SUPPLIER,) and "INV-2026-0042" in confirmation[0].text
    book = SqliteInvoiceBook(harness.settings.data_dir / "ledger.sqlite")
    entry = await book.booked(state.facts["invoice_key"])
    assert entry is not None and entry.amount == 1190.0 and entry.approved_by is None


async def test_an_invoice_booked_before_is_answered_as_a_duplicate(harness: Harness) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text=invoice("1,190.00"))
    await wait_for(lambda: finished(harness, "booked"), what="the first booking")
    again = Harness(harness.env, harness.gateway, harness.sender, MAILBOX, harness.settings)
    await again.send(0, from_addr=SUPPLIER, subject="Invoice again", text=invoice("1.190,00"))
    await wait_for(lambda: finished(again, "duplicate"), what="the duplicate answer")
    answer = await wait_for(lambda: again.mails("duplicate"), what="the answer")
    assert answer[0].to == (SUPPLIER,)


async def test_an_over_invoice_waits_for_a_signed_approval_then_is_booked(
    harness: Harness,
) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text=invoice("1,500.00"))
    state = await wait_for(lambda: harness.at_stage("awaiting_approval"), what="the approver")
    assert state.pending_approval
    asked = await wait_for(lambda: harness.mails("approval"), what="the request")
    assert asked[0].to == (APPROVER,) and "1,500.00" in asked[0].text
    told = await wait_for(lambda: harness.mails("sent-to-approver"), what="the sender told")
    assert told[0].to == (SUPPLIER,) and "1,190" not in told[0].text, "no order figures out"
    # a forged From: decides nothing
    await harness.send(1, from_addr=APPROVER, text="approve\n")
    await wait_for(lambda: _refused(harness), what="the forgery refused")
    signed = {"decided_by": APPROVER, "decision_request": request_key(harness.root)}
    await harness.send(2, from_addr=APPROVER, text="Approved.\n", **signed)
    await wait_for(lambda: finished(harness, "booked"), what="the booking")


async def test_an_invoice_without_an_amount_is_answered_not_booked(harness: Harness) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text="Hello, invoice soon.")
    await wait_for(lambda: finished(harness, "unreadable"), what="the answer")
    assert await wait_for(lambda: harness.mails("unreadable"), what="the mail")


async def _refused(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.refused_decisions else None


async def test_a_second_invoice_against_an_invoiced_order_waits_for_an_approver(
    harness: Harness,
) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text=invoice("1,190.00"))
    await wait_for(lambda: finished(harness, "booked"), what="the first booking")
    # the same order, another number, from anyone who read the order's number
    other = Harness(harness.env, harness.gateway, harness.sender, MAILBOX, harness.settings)
    text = invoice("1,190.00", number="INV-2026-0043")
    await other.send(0, from_addr="x@evil.example", subject="Invoice", text=text)
    state = await wait_for(lambda: other.at_stage("awaiting_approval"), what="the approver")
    assert "already invoiced" in state.history[-1].note, "the approver is told why"
    asked = await wait_for(lambda: other.mails("approval"), what="the request")
    assert "INV-2026-0043" in asked[-1].text


async def test_a_thank_you_to_the_confirmation_is_noted_not_answered(harness: Harness) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text=invoice("1,190.00"))
    await wait_for(lambda: finished(harness, "booked"), what="the booking")
    quoted = "Thank you!\n\n> " + invoice("1,190.00").replace("\n", "\n> ")
    await harness.send(1, from_addr=SUPPLIER, subject="Re: Invoice", text=quoted)
    state = await wait_for(lambda: finished(harness, "noted"), what="the reply noted")
    assert state.flows_started == 2
    assert not harness.mails("unreadable") and len(harness.mails("booked")) == 1


async def test_an_invoice_stopped_while_waiting_tells_the_sender(harness: Harness) -> None:
    await harness.send(0, from_addr=SUPPLIER, subject="Invoice", text=invoice("1,500.00"))
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="the approver")
    stop = CompleteRequest(reason="stopped by an operator", requested_by="alice")
    await harness.gateway.complete(harness.thread_id, stop)
    await wait_for(lambda: finished(harness, "closed"), what="the stop")
    told = await wait_for(lambda: harness.mails("stopped"), what="the sender told")
    assert told[0].to == (SUPPLIER,) and "an operator stopped" in told[0].text
    assert "expired" not in told[0].text
