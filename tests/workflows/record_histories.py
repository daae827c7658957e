"""Records the replay fixtures in tests/workflows/histories/ (history format 1).

Not part of the suite (its name is no test_*.py): a recorder, run by hand, with
RECORD_HISTORIES_TO naming the directory, when a change to what runs record is released as a
new history format (docs/architecture.md, "Versioning"):

    RECORD_HISTORIES_TO=tests/workflows/histories .venv/bin/pytest -q -p no:randomly \
        tests/workflows/record_histories.py

Each conversation is recorded with its flow as a child workflow and inline; the files are
named `<flow>-<mode>-<thread|flow>.json`. Those of a later history format are the same
scenarios recorded on code that starts runs in it, renamed `…-format-<N>.json`:

- support: escalated to two agents, one agent's reply through their signed address
  forwarded, an operator's reply, a question answered, the same answer asked for again
  (escalated), and an operator's reply with --close;
- procurement: an order in doubt confirmed after a correction, an operator's reply while it
  waits for approval, a decision with a forged From: refused (its approver told), then the
  approver's signed approval ordering;
- `procurement-child-flow-repeated-rest`: a procurement child asking its requester twice for
  the same missing item (recorded before REPEATED_REST_UNREPORTED);
- `procurement-child-thread-forwarded-mail` and `procurement-child-flow-forwarded-mail`: a
  procurement thread forwarding mail to its child by signal command, two queued mails in one
  and two answers one at a time (recorded before MAIL_TO_CHILD_BY_ACTIVITY);
- `support-inline-thread-continued-as-new` and `support-inline-thread-after-continue-as-new`:
  the first and last run of a support thread whose inline flow continued-as-new with it,
  closed by the customer's "solved";
- `support-<mode>-thread-forgetting` and `support-child-flow-forgetting`: the first runs of a
  support thread (and its child flow) continuing as new without a colleague erased from it
  (FORGET_PERSON, `mailroom erase`);
- `support-child-thread-burst` and `support-child-flow-burst` (format 4 only): two mails
  there before the thread runs, the second going with its child flow's start;
- `support-child-thread-during-route` (format 4 only): a follow-up that came while the
  thread asked the agent for its route, going with the child flow's start."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, local_activities, thread_harness
from tests.workflows.test_procurement_flow import APPROVER, CFO
from tests.workflows.test_purchase_confirmation import UnsureAgent
from tests.workflows.test_purchase_confirmation import flow_config as procurement_config
from tests.workflows.test_support_humans import (
    AGENTS,
    KNOWN,
    TOKEN,
    UNKNOWN,
    RouteHeld,
    burst_before_worker,
    config,
)
from use_cases.decision_channel import request_key
from use_cases.flows import FlowConfig, FlowMode
from use_cases.human_replies import human_reply_id
from use_cases.models import HumanReply, ThreadState, ThreadStatus
from workflows.messages import FORGET_PERSON

TARGET = os.environ.get("RECORD_HISTORIES_TO", "")


@pytest.fixture(autouse=True)
def _target() -> None:
    if not TARGET:
        pytest.fail("set RECORD_HISTORIES_TO to the directory the histories go to")


@pytest.mark.parametrize("mode", [FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def test_record_a_support_thread_with_people_answering(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    flow = config(mode, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"search_attributes": True}
    )
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox="support@mailroom.local", flow_config=flow
    ) as h:
        await _conversation(h)
        await _save_thread_and_flow(h, "support", mode)


async def _conversation(h: Harness) -> None:
    await h.send(0, reply_address=TOKEN, **UNKNOWN)
    await wait_for(lambda: _count(h, "escalated", 1), what="the escalation")
    signed = {"decided_by": AGENTS[0], "decision_request": request_key(h.root)}
    await h.send(1, from_addr=AGENTS[0], text="Please switch the fan off.", **signed)
    await wait_for(lambda: _replies(h, 1), what="the agent's answer")
    await _reply(h, "Our technician comes tomorrow.")
    await wait_for(lambda: _replies(h, 2), what="the operator's answer")
    await h.send(2, text="Also: I forgot my password and cannot login.")
    await wait_for(lambda: _count(h, "answered", 1), what="the answer")
    await h.send(3, text="I forgot my password again, the login fails.")
    await wait_for(lambda: _count(h, "escalated", 2), what="the second escalation")
    await _reply(h, "Reset it for you; closing.", close=True)
    await wait_for(lambda: _completed(h), what="completion")


async def _reply(h: Harness, text: str, *, close: bool = False) -> None:
    message_id = human_reply_id(h.thread_id, text, "ops")
    reply = HumanReply(text=text, by="ops", close=close, message_id=message_id)
    await h.gateway.reply(h.thread_id, reply)


async def _count(h: Harness, stage: str, times: int) -> bool:
    stages = [c.stage for c in (await h.state()).history if not c.note.startswith("answered")]
    return stages.count(stage) >= times


async def _replies(h: Harness, count: int) -> ThreadState | None:
    state = await h.state()
    return state if state.human_replies >= count else None


async def _completed(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED else None


async def _save_thread_and_flow(h: Harness, flow: str, mode: FlowMode) -> None:
    state = await h.state()
    await _save(h, h.thread_id, f"{flow}-{mode.value}-thread")
    if mode is FlowMode.CHILD:
        await _save(h, state.flow_workflow_id or "", f"{flow}-child-flow")


async def _save(h: Harness, workflow_id: str, name: str, run_id: str | None = None) -> None:
    history = await h.env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    (Path(TARGET) / f"{name}.json").write_text(history.to_json())


UNSURE_LAPTOPS = "Please order about 20 laptops, budget EUR 30 000, needed by 15 December."


@pytest.mark.parametrize("mode", [FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def test_record_a_purchase_confirmed_then_approved_by_signed_mail(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    flow = procurement_config(mode, hurried=False).model_copy(
        update={
            "search_attributes": True,
            "ack_delay": timedelta(seconds=1),
            "approvers": (APPROVER, CFO),
        }
    )
    async with thread_harness(
        dev_server,
        task_queue,
        tmp_path,
        mailbox="procurement@mailroom.local",
        flow_config=flow,
        agent=UnsureAgent(),
    ) as h:
        await h.send(0, subject="Laptops", text=UNSURE_LAPTOPS)
        await wait_for(lambda: h.at_stage("awaiting_confirmation"), what="the first question")
        await h.send(1, text="No: 25 laptops.")
        await wait_for(lambda: _mail_count(h, "confirm", 2), what="the second question")
        await h.send(2, text="Confirm")
        await wait_for(lambda: h.at_stage("awaiting_approval"), what="the approval wait")
        await _reply(h, "We are checking the budget with finance.")
        await wait_for(lambda: _replies(h, 1), what="the operator's answer")
        await h.send(3, from_addr=APPROVER, text="Approved, go ahead.\n")  # From: alone
        await wait_for(lambda: _mail_count(h, "decision-refused", 1), what="the refusal")
        signed = {"decided_by": APPROVER, "decision_request": request_key(h.root)}
        await h.send(4, from_addr=APPROVER, text="Approved.\n", **signed)
        state = await wait_for(lambda: _completed(h), what="the order")
        assert state.stage == "confirmed" and len(state.refused_decisions) == 1
        await _save_thread_and_flow(h, "procurement", mode)


async def _mail_count(h: Harness, purpose: str, count: int) -> bool:
    return len(h.mails(purpose)) >= count


async def test_record_a_support_thread_continued_as_new_with_its_inline_flow(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    flow = config(FlowMode.INLINE, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"search_attributes": True, "flow_messages_per_run": 3, "auto_reply_cap": 100}
    )
    async with thread_harness(
        dev_server,
        task_queue,
        tmp_path,
        mailbox="support@mailroom.local",
        flow_config=flow,
        messages_per_run=3,
        auto_replies_per_hour=1000,
    ) as h:
        await h.send(0, reply_address=TOKEN, **KNOWN)
        for n in range(1, 6):
            await h.send(n, text=f"Is there news? (mail {n})")
        await wait_for(lambda: _continued(h, 6), what="every mail, in a later run")
        await h.send(6, text="It works now, solved. Thanks!", thread_rule="reply-token")
        await wait_for(lambda: _completed(h), what="the resolution")
        first = (await h.env.client.get_workflow_handle(h.thread_id).describe()).raw_description
        first_run = first.workflow_execution_info.first_run_id
        await _save(h, h.thread_id, "support-inline-thread-continued-as-new", run_id=first_run)
        await _save(h, h.thread_id, "support-inline-thread-after-continue-as-new")


async def _continued(h: Harness, count: int) -> ThreadState | None:
    state = await h.state()
    waiting = state.stage in ("waiting_for_customer", "escalated")
    return state if state.message_count >= count and waiting and state.runs >= 2 else None


async def test_record_a_burst_before_a_support_thread_runs(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """`support-child-thread-burst` and `support-child-flow-burst` (format 4): two mails
    there before the thread runs, the second going with its child flow's start
    (QUEUED_MAIL_WITH_START), one answer to both, then the customer's "solved"."""
    flow = config(FlowMode.CHILD, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"search_attributes": True}
    )
    root = f"<burst-{tmp_path.name}@example.com>"
    async with burst_before_worker(
        dev_server, task_queue, tmp_path, FlowMode.CHILD, root, flow
    ) as h:
        await wait_for(lambda: _count(h, "answered", 1), what="the answer")
        await h.send(2, text="It works now, solved. Thanks!", thread_rule="reply-token")
        state = await wait_for(lambda: _completed(h), what="the resolution")
        assert len(h.mails("answer")) == 1 and state.flows_started == 1
        await _save(h, h.thread_id, "support-child-thread-burst")
        await _save(h, state.flow_workflow_id or "", "support-child-flow-burst")


async def test_record_mail_that_came_while_a_support_thread_asked_for_its_route(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """`support-child-thread-during-route` (format 4): a mailbox no flow is named for, the
    agent's route held while a follow-up comes; it goes with the child flow's start; then
    the customer's "solved"."""
    flow = config(FlowMode.CHILD, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"search_attributes": True}
    )
    agent = RouteHeld()
    async with thread_harness(
        dev_server,
        task_queue,
        tmp_path,
        mailbox="hello@mailroom.local",
        flow_config=flow,
        agent=agent,
    ) as h:
        await h.send(0, reply_address=TOKEN, **KNOWN)
        await asyncio.wait_for(agent.routing.wait(), timeout=30)
        await h.send(1, text="Also: the login page hangs.")
        await wait_for(lambda: h.has_messages(2), what="the follow-up at the thread")
        agent.route.set()
        await wait_for(lambda: _count(h, "answered", 1), what="the answer")
        await h.send(2, text="It works now, solved. Thanks!", thread_rule="reply-token")
        await wait_for(lambda: _completed(h), what="the resolution")
        thread = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
        assert local_activities(thread).count("forward_to_flow") == 1  # the "solved" only
        await _save(h, h.thread_id, "support-child-thread-during-route")


async def test_record_mail_queued_at_a_thread_while_its_child_flow_starts(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """`procurement-child-thread-queued-mail`: two mails queue at the thread while its child
    flow starts (tests/workflows/test_queued_mail_to_child.py). Recorded on the code before
    the patch QUEUED_MAIL_TO_CHILD (each queued mail forwarded in its own signal), it keeps
    that old path replaying."""
    flow = FlowConfig(modes={"procurement": FlowMode.CHILD})
    mailbox = "procurement@mailroom.local"
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=mailbox, flow_config=flow
    ) as h:
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        await h.send(1, from_addr="bob@example.com", text="I want a mouse too.")
        await h.send(2, text="Budget is EUR 200.")
        await wait_for(lambda: _completed(h), what="the order")
        history = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
        forwards = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
        ]
        assert len(forwards) >= 2, "the mails did not queue while the child started"
        await _save(h, h.thread_id, "procurement-child-thread-queued-mail")


async def test_record_a_procurement_child_resting_again_where_it_rested(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """`procurement-child-flow-repeated-rest`: the requester's first answer leaves the same
    item missing, so the child rests again where it rested (tests/workflows/
    test_flow_reporting.py). Recorded on the code before the patch REPEATED_REST_UNREPORTED
    (every rest reported), it keeps that old path replaying. The agent and the outbox run
    in the worker, as by default: a step's stages are then reported once, where it rests."""
    flow = FlowConfig(
        modes={"procurement": FlowMode.CHILD}, agent_in_process=True, outbox_in_process=True
    )
    mailbox = "procurement@mailroom.local"
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=mailbox, flow_config=flow
    ) as h:
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        await wait_for(lambda: _mail_count(h, "question", 1), what="the first question")
        await h.send(1, text="I will ask my manager about the money.")
        await wait_for(lambda: _mail_count(h, "question", 2), what="the second question")
        await h.send(2, text="Budget is EUR 200.")
        state = await wait_for(lambda: _completed(h), what="the order")
        stages = [c.stage for c in state.history]
        assert stages.count("awaiting_info") == 2, stages
        await _save(h, state.flow_workflow_id or "", "procurement-child-flow-repeated-rest")


async def test_record_a_procurement_child_taking_several_forwarded_mails(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """`procurement-child-thread-forwarded-mail` and `procurement-child-flow-forwarded-mail`:
    two mails queue at the thread while its child starts (one NEW_MESSAGES signal), then the
    requester answers twice, one mail at a time (a NEW_MESSAGE signal each). Recorded on the
    code before the patch MAIL_TO_CHILD_BY_ACTIVITY (each forward a signal command), it
    keeps that old path replaying."""
    flow = FlowConfig(modes={"procurement": FlowMode.CHILD})
    mailbox = "procurement@mailroom.local"
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=mailbox, flow_config=flow
    ) as h:
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        await h.send(1, from_addr="bob@example.com", text="I want a mouse too.")
        await h.send(2, text="I will ask my manager about the money.")
        await wait_for(lambda: _mail_count(h, "question", 2), what="the second question")
        await h.send(3, text="Still asking my manager.")
        await wait_for(lambda: _mail_count(h, "question", 3), what="the third question")
        await h.send(4, text="Budget is EUR 200.")
        state = await wait_for(lambda: _completed(h), what="the order")
        history = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
        forwards = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
        ]
        assert len(forwards) >= 3, f"{len(forwards)} forwards"
        await _save(h, h.thread_id, "procurement-child-thread-forwarded-mail")
        await _save(h, state.flow_workflow_id or "", "procurement-child-flow-forwarded-mail")


@pytest.mark.parametrize("mode", [FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def test_record_a_support_thread_forgetting_someone(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    """`support-<mode>-thread-forgetting` (and `support-child-flow-forgetting`): a customer
    asks with a colleague copied, the colleague writes in too, and the colleague is erased
    (FORGET_PERSON): the first runs, which continue as new without them."""
    flow = config(mode, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"search_attributes": True, "searchable_subjects": True}
    )
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox="support@mailroom.local", flow_config=flow
    ) as h:
        await h.send(0, reply_address=TOKEN, cc=(COLLEAGUE,), **KNOWN)
        await wait_for(lambda: _count(h, "answered", 1), what="the answer")
        await h.send(1, from_addr=COLLEAGUE, text="Mine fails too since the update.")
        await wait_for(lambda: h.has_messages(2), what="the colleague's mail")
        child = (await h.state()).flow_workflow_id or "" if mode is FlowMode.CHILD else ""
        before = {
            workflow_id: (await h.env.client.get_workflow_handle(workflow_id).describe()).run_id
            for workflow_id in (h.thread_id, child)
            if workflow_id
        }
        await h.env.client.get_workflow_handle(h.thread_id).signal(FORGET_PERSON, COLLEAGUE)
        await wait_for(lambda: _forgotten(h, before), what="runs continued without them")
        await _save(h, h.thread_id, f"support-{mode.value}-thread-forgetting", before[h.thread_id])
        if mode is FlowMode.CHILD:
            await _save(h, child, "support-child-flow-forgetting", before[child])


COLLEAGUE = "colleague@corp.example"


async def _forgotten(h: Harness, before: dict[str, str]) -> bool:
    for workflow_id, run_id in before.items():
        current = await h.env.client.get_workflow_handle(workflow_id).describe()
        if current.run_id == run_id:
            return False
    return COLLEAGUE not in (await h.state()).participants
