"""Mail that reaches a thread just as it continues-as-new is handled by the next run: an
inline flow is asked to pause before the thread waits to continue, so it leaves the mail in
its inbox for the snapshot instead of taking it and losing the answer it started."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from tests.workflows.test_procurement_flow import MAILBOX as PROCUREMENT
from tests.workflows.test_procurement_flow import flow_config as procurement_config
from tests.workflows.test_support_flow import KNOWN, MAILBOX, UNKNOWN, config
from use_cases.flows import FlowMode
from use_cases.models import ThreadState


async def test_a_follow_up_at_continue_as_new_is_still_answered(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    flow = config(mode, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"auto_reply_cap": 100}
    )
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=flow,
        messages_per_run=2,  # the second mail makes the thread continue-as-new
        auto_replies_per_hour=1000,
    ) as h:
        await h.send(0, **KNOWN)
        await wait_for(lambda: h.at_stage("waiting_for_customer"), what="the first answer")
        await h.send(1, **UNKNOWN)
        escalation = await wait_for(lambda: h.mails("escalation"), what="the follow-up handled")
        assert escalation, "the follow-up was lost at continue-as-new"
        state = await wait_for(lambda: _continued(h), what="the thread in its next run")
        assert state.message_count == 2


async def test_a_flow_that_cannot_pause_still_takes_its_requesters_answer(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Procurement inline cannot resume from a snapshot: asked to pause (the thread is due
    to continue-as-new), it must not hold the requester's answer until its deadline."""
    flow = procurement_config(FlowMode.INLINE, hurried=False)
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=PROCUREMENT,
        flow_config=flow,
        messages_per_run=2,
    ) as h:
        await h.send(0, subject="Monitors", text="Please order 3 monitors.")
        await wait_for(lambda: h.at_stage("awaiting_info"), what="the question for the budget")
        await h.send(1, text="Budget EUR 600.")
        state = await wait_for(lambda: h.at_stage("confirmed"), what="the order")
        assert str(state.facts["po_number"]).startswith("PO-")


async def _continued(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.runs >= 2 else None
