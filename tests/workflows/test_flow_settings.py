"""A flow's settings come from the worker that runs it: a purchase already waiting for
approval follows MAILROOM_APPROVERS as a restarted worker has it (issue 17)."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from orchestrator.bootstrap import reply_token_key
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from tests.workflows.test_procurement_flow import APPROVER, BIG, MAILBOX, finished, flow_config
from use_cases.decision_channel import decision_address, request_key
from use_cases.flows import FlowMode
from use_cases.mail import OutboundEmail
from use_cases.models import ThreadState

NEW_APPROVER = "new.boss@corp.example"


def asked(h: Harness, approver: str) -> list[OutboundEmail]:
    return [m for m in h.mails("approval") if m.to == (approver,)]


async def test_a_waiting_purchase_follows_the_approvers_of_a_restarted_worker(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    before = flow_config(mode, hurried=False).model_copy(update={"approvers": (APPROVER,)})
    # no cached runs (no sticky queue): the next worker takes the thread at once
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=before,
        max_cached_workflows=0,
    ) as first:
        await first.send(0, subject="Laptops", text=BIG)
        await wait_for(lambda: first.at_stage("awaiting_approval"), what="the approval wait")
        await wait_for(lambda: asked(first, APPROVER), what="the request to the approver")
    # the worker stops; it starts again with another approver on file
    after = before.model_copy(update={"approvers": (NEW_APPROVER,)})
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=MAILBOX, flow_config=after
    ) as h:
        h.root, h.key = first.root, first.key  # the same thread
        request = request_key(h.root)
        key = reply_token_key(h.settings)
        await h.send(
            1, from_addr=APPROVER, text="Approved.\n", decided_by=APPROVER, decision_request=request
        )
        requests = await wait_for(lambda: asked(h, NEW_APPROVER), what="the new approver asked")
        assert requests[0].reply_to == decision_address(h.thread_id, request, NEW_APPROVER, key)
        # the new approver is asked before the old one's decision is considered and refused
        state = await wait_for(lambda: _refused(h), what="the old approver's decision refused")
        assert state.stage == "awaiting_approval", "the approver taken off the list decides nothing"
        assert [r.from_addr for r in state.refused_decisions] == [APPROVER]

        await h.send(
            2,
            from_addr=NEW_APPROVER,
            text="Approved.\n",
            decided_by=NEW_APPROVER,
            decision_request=request,
        )
        await wait_for(lambda: finished(h, "confirmed"), what="the order")


async def _refused(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.refused_decisions else None
