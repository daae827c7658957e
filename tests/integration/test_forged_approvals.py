"""Forged approvals never act, over real SMTP: an "approve" with the approver's address in
From, threaded by In-Reply-To to the request, is refused and the approver told; the
approver's reply to the signed address of the approval request orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import FIXTURES
from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.mail import OutboxEntry
from use_cases.models import ThreadState
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

PROCUREMENT = "procurement@mailroom.local"
APPROVER = "boss@corp.example"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue, approvers=[APPROVER])
    async with running_stack(dev_server.client, settings) as running:
        yield running


def answer(request_id: str, message_id: str, to: str, body: str) -> bytes:
    return raw_mail(
        sender=f"Boss <{APPROVER}>",
        to=to,
        subject="Re: Approval needed: RFQ: 20 laptops for the new team",
        message_id=message_id,
        body=body + "\r\n",
        in_reply_to=request_id,
        references=(request_id,),
    )


async def test_a_forged_approval_is_refused_and_the_signed_one_orders(
    stack: Stack, unique: str
) -> None:
    rfq_id = f"<rfq-{unique}@corp.example>"
    rfq = (
        (FIXTURES / "rfq.eml")
        .read_bytes()
        .replace(b"<rfq-20-laptops@corp.example>", rfq_id.encode())
    )
    await stack.send(rfq, [PROCUREMENT], sender="bob@corp.example")
    thread_id = workflow_id_for(PROCUREMENT, rfq_id)
    request = await wait_for(lambda: _mail_to(stack, APPROVER, "-approval-"), what="request")
    signed = request.reply_to or ""
    assert signed.startswith("procurement+d") and signed.endswith("@mailroom.local")

    # Anyone can write From: boss@…, and the request's Message-ID is no secret to a Cc.
    forged = answer(rfq_id, f"<forged-{unique}@evil.example>", PROCUREMENT, "approve")
    await stack.send(forged, [PROCUREMENT], sender="mallory@evil.example")
    state = await wait_for(lambda: _refused(stack, thread_id), what="the refusal")
    assert state.stage == "awaiting_approval" and "po_number" not in state.facts
    assert state.refused_decisions[0].from_addr == APPROVER
    await wait_for(lambda: _mail_to(stack, APPROVER, "-decision-refused-"), what="the notice")
    assert stack.wiring.ledger.purchase_orders() == []

    genuine = answer(request.message_id, f"<yes-{unique}@corp.example>", signed, "Approved.")
    await stack.send(genuine, [signed], sender=APPROVER)
    state = await wait_for(lambda: _ordered(stack, thread_id), what="the order")
    assert [o.thread_id for o in stack.wiring.ledger.purchase_orders()] == [thread_id]
    rules = [m.thread_rule for m in state.messages]
    assert rules[-1] == "decision-token", rules
    assert signed not in state.participants, "the approver's secret address is not kept"


async def _mail_to(stack: Stack, address: str, purpose: str) -> OutboxEntry | None:
    found = [
        e for e in stack.wiring.outbox.entries() if address in e.to and purpose in e.message_id
    ]
    return found[0] if found else None


async def _state(stack: Stack, thread_id: str) -> ThreadState | None:
    try:
        return await stack.gateway.get(thread_id)
    except ThreadNotFound:
        return None


async def _refused(stack: Stack, thread_id: str) -> ThreadState | None:
    state = await _state(stack, thread_id)
    return state if state is not None and state.refused_decisions else None


async def _ordered(stack: Stack, thread_id: str) -> ThreadState | None:
    state = await _state(stack, thread_id)
    return state if state is not None and state.facts.get("po_number") else None
