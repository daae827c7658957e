"""A signed decision mail that comes after its procurement flow ended (decided by CLI, the
order placed) is recorded and ignored: it starts no new flow and mails nobody."""

from __future__ import annotations

from tests.support import wait_for
from tests.workflows.harness import Harness
from tests.workflows.test_procurement_flow import (  # the module's harness: MAILBOX, ...
    APPROVER,
    BIG,
    MAILBOX,
    SETTINGS,
    finished,
    flow_config,
    ledger,
)
from use_cases.decision_channel import request_key
from use_cases.flows import ApprovalDecision
from use_cases.models import ThreadState, ThreadStatus

__all__ = ["MAILBOX", "SETTINGS", "flow_config"]  # read by conftest.py


async def test_a_signed_approval_after_the_order_is_noted_and_starts_no_flow(
    harness: Harness,
) -> None:
    await harness.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: harness.at_stage("awaiting_approval"), what="approval wait")
    await harness.gateway.decide(harness.thread_id, ApprovalDecision(approved=True, by="cli"))
    done = await wait_for(lambda: finished(harness, "confirmed"), what="the order")
    before = len(harness.sender.sent)
    signed = {"decided_by": APPROVER, "decision_request": request_key(harness.root)}
    await harness.send(1, from_addr=APPROVER, text="Approved.\n", **signed)

    async def noted_and_closed() -> ThreadState | None:
        state = await harness.state()
        noted = any(c.stage == "decision ignored" for c in state.history)
        closed = state.status is ThreadStatus.COMPLETED and state.message_count == 2
        return state if noted and closed else None

    state = await wait_for(noted_and_closed, what="the late decision noted")
    assert state.flows_started == done.flows_started and state.reopened == 1
    assert harness.sender.sent[before:] == [] and len(ledger(harness).purchase_orders()) == 1
