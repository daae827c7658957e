"""Support end to end inside Temporal, as child workflow and inline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus

MAILBOX = "support@mailroom.local"
TEAM = "team@corp.example"
KNOWN = {"subject": "Forgot my password", "text": "I forgot my password and cannot login."}
UNKNOWN = {"subject": "Strange noise", "text": "The fan in my office makes a strange noise."}
INVOICE = {"subject": "Invoice copy", "text": "Please send me a copy of my invoice as PDF."}


def config(mode: FlowMode, reminder: timedelta, close: timedelta) -> FlowConfig:
    # Inline flows ask the agent and send mail by local activity (an in-process agent, the
    # built-in outbox), child flows by activity (a remote agent, an SMTP relay): every test
    # covers both ways.
    return FlowConfig(
        modes={"support": mode},
        support_team=TEAM,
        sla_reminder_after=reminder,
        sla_auto_close_after=close,
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )


def flow_config(mode: FlowMode, hurried: bool) -> FlowConfig:
    if hurried:
        return config(mode, timedelta(seconds=1), timedelta(seconds=2))
    return config(mode, timedelta(days=2), timedelta(days=5))


async def completed(h: Harness, stage: str) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED and state.stage == stage else None


async def test_a_known_question_is_answered_from_the_knowledge_base_then_solved(
    harness: Harness,
) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: harness.at_stage("waiting_for_customer"), what="the answer")
    answer = harness.mails("answer")
    assert len(answer) == 1 and "Forgot password" in answer[0].text
    assert answer[0].in_reply_to == harness.root and answer[0].to == ("alice@example.com",)
    state = await harness.state()
    assert state.flow == "support" and "answered" in [c.stage for c in state.history]
    # Someone who reached the thread by its subject or a Message-ID cannot close it.
    await harness.send(1, from_addr="mallory@example.net", text="Solved, thanks!")
    await wait_for(lambda: _not_closed(harness, 1), what="a stranger's 'solved' noted")
    await harness.send(2, text="Solved now.", thread_rule="index")  # not the signed address
    await wait_for(lambda: _not_closed(harness, 2), what="both noted, neither answered")
    assert (await harness.state()).status is ThreadStatus.OPEN
    assert harness.mails("escalated") == [] and len(harness.mails("answer")) == 1
    await harness.send(3, text="Thanks, that worked! It is solved.\n> If this", **SIGNED)
    final = await wait_for(lambda: completed(harness, "resolved"), what="resolution")
    assert final.completed_reason == "support flow resolved"
    assert len(harness.mails("thanks")) == 1


async def test_an_unknown_question_is_escalated_to_the_team(harness: Harness) -> None:
    await harness.send(0, **UNKNOWN)
    await wait_for(lambda: harness.at_stage("escalated"), what="escalation")
    escalation = harness.mails("escalation")
    assert len(escalation) == 1 and escalation[0].to == (TEAM,)
    assert "strange noise" in escalation[0].text
    assert len(harness.mails("escalated")) == 1  # the customer is told
    assert "escalated" in [c.stage for c in (await harness.state()).history]
    assert harness.mails("answer") == []


async def test_the_customer_writing_again_reopens_the_loop(harness: Harness) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: harness.mails("answer"), what="the first answer")
    await harness.send(1, text="Another question: where is a copy of my invoice? Billing.")
    await wait_for(lambda: len(harness.mails("answer")) == 2, what="a second answer")
    assert "Billing > Invoices" in harness.mails("answer")[1].text
    assert (await harness.state()).status is ThreadStatus.OPEN


async def test_complete_thread_resolves_the_flow(harness: Harness) -> None:
    await harness.send(0, **UNKNOWN)
    await wait_for(lambda: harness.at_stage("escalated"), what="escalation")
    await harness.gateway.complete(harness.thread_id, CompleteRequest(reason="fixed on site"))
    final = await wait_for(lambda: completed(harness, "resolved"), what="resolution")
    assert final.completed_reason == "fixed on site"


async def test_a_stopped_thread_tells_the_customer_an_operator_stopped_it(
    harness: Harness,
) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: harness.at_stage("waiting_for_customer"), what="the answer")
    stop = CompleteRequest(
        reason="stopped by an operator: duplicate of #K7Q2MX",
        requested_by="alice",
        tell_requester=True,
    )
    await harness.gateway.complete(harness.thread_id, stop)
    await wait_for(lambda: completed(harness, "resolved"), what="the stop")
    told = await wait_for(lambda: harness.mails("stopped"), what="the customer told")
    assert told[0].text == (
        "Your request was stopped by an operator (alice).\nReason: duplicate of #K7Q2MX\n"
    )
    assert not harness.mails("closed"), "not the auto-close's 'hearing nothing back'"


async def test_silence_gets_a_reminder_then_auto_close(hurried: Harness) -> None:
    await hurried.send(0, **KNOWN)
    final = await wait_for(lambda: completed(hurried, "closed"), what="auto-close")
    assert len(hurried.mails("reminder")) == 1 and len(hurried.mails("closed")) == 1
    stages = [c.stage for c in final.history]
    assert stages.index("reminded") < stages.index("closed")


async def test_the_sla_counts_from_the_customers_latest_mail(hurried: Harness) -> None:
    """The wait's timer is shared across mails: when it rings for an older deadline, the
    reminder still waits the full SLA (1 s here) from the latest mail."""
    await hurried.send(0, **KNOWN)
    await wait_for(lambda: _waited(hurried, 1), what="the answer")
    first_wait = next(
        c.at for c in (await hurried.state()).history if c.stage == "waiting_for_customer"
    )
    half_way = first_wait + timedelta(seconds=0.5)  # of the 1 s SLA, by the workflow's clock
    await wait_for(lambda: datetime.now(UTC) >= half_way, what="half-way through the SLA")
    await hurried.send(
        1, **INVOICE
    )  # the customer writes again (answered: an escalation would hold the SLA)
    await wait_for(lambda: hurried.mails("reminder"), what="the reminder")

    async def reminded_in_history() -> bool:
        # A child flow reports its stages to the thread once settled: after the mail.
        return any(c.stage == "reminded" for c in (await hurried.state()).history)

    await wait_for(reminded_in_history, what="the reminder in the thread's history")
    history = (await hurried.state()).history
    waits = [c.at for c in history if c.stage == "waiting_for_customer"]
    reminded = next(c.at for c in history if c.stage == "reminded")
    assert len(waits) == 2 and reminded - waits[1] >= timedelta(seconds=1)


async def test_a_customer_writing_often_costs_one_sla_timer_not_one_per_mail(
    harness: Harness,
) -> None:
    await harness.send(0, **KNOWN)
    await wait_for(lambda: _waited(harness, 1), what="the answer")
    for n in range(1, 6):
        await harness.send(n, text=f"Still cannot login (attempt {n}).")
        await wait_for(lambda n=n: _waited(harness, n + 1), what=f"mail {n} handled")  # type: ignore[misc]
    state = await harness.state()
    flow_id = state.flow_workflow_id if state.flow_mode == "child" else harness.thread_id
    history = await harness.env.client.get_workflow_handle(flow_id or "").fetch_history()
    # SLA timers only: an inline thread may also start its one acknowledgement timer, when
    # the answer had not gone out yet as the thread looked (a slower local activity)
    sla = timedelta(days=2)
    timers = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() >= sla
    ]
    assert len(timers) == 1


async def test_a_reply_after_auto_close_reopens_the_thread_into_support(hurried: Harness) -> None:
    await hurried.send(0, **KNOWN)
    await wait_for(lambda: completed(hurried, "closed"), what="auto-close")
    await hurried.send(1, text="Sorry, I was away. Still cannot login, password refused.")
    # no confident answer to that: a person is asked, the stage says so
    state = await wait_for(lambda: hurried.at_stage("escalated"), what="reopened")
    assert state.reopened == 1 and state.flows_started == 2 and state.flow == "support"


async def test_an_agent_that_keeps_failing_hands_the_customer_to_a_human(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    from tests.fakes import FailingAgent

    agent = FailingAgent()
    flow_config = config(mode, timedelta(days=2), timedelta(days=5))
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=flow_config,
        agent=agent,
    ) as harness:
        await harness.send(0, **KNOWN)
        await wait_for(lambda: harness.at_stage("escalated"), what="escalation")
        assert len(harness.mails("escalation")) == 1 and harness.mails("answer") == []
        assert agent.calls >= 2 * 3  # triage and answer, each tried three times


async def test_a_robot_answering_every_answer_gets_no_answer_twice(harness: Harness) -> None:
    """A responder that ignores Auto-Submitted and echoes our answer gets that answer once,
    then word that a person takes over, then nothing more (the cap of `auto_reply_cap`
    mails an hour stays behind that: tests/unit/test_auto_reply_cap.py)."""
    await harness.send(0, **KNOWN)
    await wait_for(lambda: _waited(harness, 1), what="the first answer")
    for n in range(1, 9):  # a robot's echo, each after our previous answer
        await harness.send(n, text="I forgot my password and cannot login.")
        await wait_for(lambda n=n: _waited(harness, n + 1), what=f"echo {n} handled")  # type: ignore[misc]
    to_robot = [
        m
        for m in harness.sender.sent
        if m.to == ("alice@example.com",) and not m.message_id.startswith("<ack-")
    ]
    assert [m.message_id.split("-")[2] for m in to_robot] == ["answer", "escalated"]


async def _waited(harness: Harness, times: int) -> bool:
    """Handled `times` mails: each ends waiting for the customer, or for a person."""
    stages = [c.stage for c in (await harness.state()).history]
    return stages.count("waiting_for_customer") + stages.count("escalated") >= times


@pytest.mark.parametrize("mode", [FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def test_a_long_conversation_continues_as_new_without_losing_the_flow(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    flow_config = config(mode, timedelta(days=2), timedelta(days=5)).model_copy(
        update={"flow_messages_per_run": 10, "auto_reply_cap": 100}
    )
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        flow_config=flow_config,
        messages_per_run=10,
        auto_replies_per_hour=1000,
    ) as harness:
        await harness.send(0, **KNOWN)
        for n in range(1, 25):
            await harness.send(n, text=f"Still cannot login (attempt {n}).")
        state = await wait_for(lambda: _settled(harness, 25), what="every message", timeout=60)
        assert state.runs >= 2 and state.flows_started == 1
        if mode is FlowMode.CHILD:
            child = harness.env.client.get_workflow_handle(f"{harness.thread_id}-support-1")

            async def child_continued() -> bool:
                described = await child.describe()
                info = described.raw_description.workflow_execution_info
                return described.run_id != info.first_run_id

            await wait_for(child_continued, what="the child flow to continue-as-new")
        await harness.send(25, text="It works now, solved. Thanks!", **SIGNED)
        final = await wait_for(lambda: completed(harness, "resolved"), what="resolution")
        assert final.message_count == 26 and len(harness.mails("thanks")) == 1


# The customer's reply through the thread's signed reply address (every mail we send has it).
SIGNED = {"thread_rule": "reply-token"}


async def _not_closed(harness: Harness, count: int) -> bool:
    stages = [c.stage for c in (await harness.state()).history]
    return stages.count("not closed") >= count


async def _settled(harness: Harness, count: int) -> ThreadState | None:
    """All `count` messages in the thread, which has continued-as-new, and the flow back to
    waiting for the customer (or, escalated, for a person)."""
    state = await harness.state()
    done = (
        state.message_count >= count
        and state.stage in ("waiting_for_customer", "escalated")
        and state.runs >= 2
    )
    return state if done else None
