"""When a thread acknowledges a mail, and when automatic mail closes a thread by itself.
Where the delay must pass, on the dev server with a delay of seconds (skipping time on the
shared time-skipping server stalls once other tests ran in the process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import CompleteRequest, ThreadState, ThreadStatus
from workflows.thread import AUTOMATIC_ONLY

DELAY = timedelta(seconds=30)
SHORT = timedelta(seconds=2)
SMALL = "Please order 3 monitors, budget EUR 600."
BIG = "Please quote 20 laptops, budget EUR 30 000, needed by 15 December."


def _config(mode: FlowMode, delay: timedelta = DELAY) -> FlowConfig:
    return FlowConfig(
        modes={"procurement": mode},
        approvers=("boss@corp.example",),
        ack_delay=delay,
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )


@pytest.fixture(params=[FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def procurement(
    request: pytest.FixtureRequest,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox="procurement@mailroom.local",
        flow_config=_config(FlowMode(request.param)),
    ) as h:
        yield h


@pytest.fixture(params=[FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def hurried_procurement(
    request: pytest.FixtureRequest, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with thread_harness(
        dev_server,
        task_queue,
        tmp_path,
        mailbox="procurement@mailroom.local",
        flow_config=_config(FlowMode(request.param), SHORT),
    ) as h:
        yield h


@pytest.fixture
async def info(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """A mailbox without a flow: only people answer there."""
    async with thread_harness(
        dev_server,
        task_queue,
        tmp_path,
        mailbox="info@mailroom.local",
        flow_config=FlowConfig(ack_delay=SHORT, automatic_grace=SHORT),
    ) as h:
        yield h


def _acks(h: Harness) -> list[str]:
    return [m.message_id for m in h.sender.sent if m.message_id.startswith("<ack-")]


async def _completed(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.status is ThreadStatus.COMPLETED else None


async def test_no_acknowledgement_when_the_flow_answers_within_the_delay(
    procurement: Harness,
) -> None:
    h = procurement
    await h.send(0, subject="Monitors", text=SMALL)
    state = await wait_for(lambda: _completed(h), what="the order confirmed")
    assert state.stage == "confirmed" and len(h.mails("confirmation")) == 1
    assert _acks(h) == [], "the confirmation told the requester; no separate acknowledgement"
    assert state.acknowledged


async def test_a_flow_that_mails_only_the_approvers_is_acknowledged_after_the_delay(
    hurried_procurement: Harness,
) -> None:
    h = hurried_procurement
    await h.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: h.mails("approval"), what="the approval request")
    acks = await wait_for(lambda: _acks(h), what="the acknowledgement")
    assert len(acks) == 1 and h.sender.sent[-1].to == ("alice@example.com",)
    await wait_for(lambda: _acknowledged(h), what="the acknowledgement recorded")
    history = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
    fired = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    assert len(fired) == 1, "sent when the delay's timer fired, not before"


async def test_an_operators_completion_within_the_delay_sends_no_acknowledgement(
    procurement: Harness,
) -> None:
    h = procurement
    await h.send(0, subject="Laptops", text=BIG)
    await wait_for(lambda: h.mails("approval"), what="the approval request")
    await h.gateway.complete(h.thread_id, CompleteRequest(reason="bought", requested_by="ops"))
    state = await wait_for(lambda: _completed(h), what="completion")
    assert len(h.mails("closed")) == 1 and _acks(h) == []
    assert state.completed_reason == "bought"


async def _acknowledged(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.acknowledged else None


async def test_a_thread_without_a_flow_is_acknowledged_after_the_delay(info: Harness) -> None:
    await info.send(0)
    await wait_for(lambda: _acks(info), what="the acknowledgement")
    await info.send(1)
    await wait_for(lambda: info.has_messages(2), what="the second message")
    assert len(_acks(info)) == 1


async def test_a_thread_of_automatic_mail_only_completes_by_itself(info: Harness) -> None:
    await info.send(0, automatic="auto-submitted: auto-replied")
    await info.send(1, automatic="bounce")  # a burst lands in the same run
    await wait_for(lambda: info.has_messages(2), what="both messages")
    state = await wait_for(lambda: _completed(info), what="the thread to complete")
    assert (state.completed_reason, state.message_count, state.runs) == (AUTOMATIC_ONLY, 2, 1)
    assert info.sender.sent == [] and not state.acknowledged

    await info.send(2)  # a person writes later: the thread reopens as usual
    state = await wait_for(lambda: info.has_messages(3), what="the reopened thread")
    assert state.status is ThreadStatus.OPEN and state.reopened == 1
    await wait_for(lambda: _acks(info), what="the acknowledgement to the person")
    assert (await info.state()).status is ThreadStatus.OPEN, "human mail waits for a person"


async def test_an_out_of_office_reply_reopens_a_completed_thread_only_briefly(
    info: Harness,
) -> None:
    await info.send(0)
    await wait_for(lambda: info.has_messages(1), what="the message")
    await info.gateway.complete(info.thread_id, CompleteRequest(reason="answered by phone"))
    await wait_for(lambda: _completed(info), what="the completed thread")
    await info.send(1, automatic="auto-submitted: auto-replied")  # answering our last mail
    state = await wait_for(lambda: _reopened_and_completed(info), what="completed again")
    assert state.completed_reason == AUTOMATIC_ONLY and state.message_count == 2


async def _reopened_and_completed(h: Harness) -> ThreadState | None:
    state = await h.state()
    return state if state.reopened == 1 and state.status is ThreadStatus.COMPLETED else None
