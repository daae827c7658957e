"""ThreadWorkflow under the time-skipping test server, with a fake sender (a port we own).

The mailbox here routes to no flow (`other`), so only the thread's own behaviour shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig
from use_cases.models import CompleteRequest, ThreadInput, ThreadState, ThreadStatus
from use_cases.tickets import ticket_reference
from workflows.thread import ThreadWorkflow

MAILBOX = "info@mailroom.local"


@pytest.fixture(params=[False, True], ids=["send-by-activity", "send-to-outbox-locally"])
async def harness(
    request: pytest.FixtureRequest,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    """Replies by activity (an SMTP relay) or by local activity (the built-in outbox)."""
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox=MAILBOX,
        messages_per_run=10,
        # acknowledged at once, as before the delay (the delay: test_acknowledgements.py)
        flow_config=FlowConfig(outbox_in_process=request.param, ack_delay=timedelta(0)),
    ) as h:
        yield h


async def test_first_human_message_gets_one_threaded_acknowledgement(harness: Harness) -> None:
    await harness.gateway.new_message(harness.key, harness.message(0))
    await harness.gateway.new_message(harness.key, harness.message(1))
    state = await wait_for(lambda: harness.has_messages(2), what="two messages in the thread")
    await wait_for(lambda: harness.sender.sent, what="the acknowledgement")
    assert state.message_ids == [harness.root, harness.message(1).message_id]
    assert (state.reference, state.requester) == (
        ticket_reference(harness.thread_id),
        "alice@example.com",
    )
    assert state.last_activity is not None
    assert len(harness.sender.sent) == 1
    ack = harness.sender.sent[0]
    assert ack.to == ("alice@example.com",)
    assert ack.in_reply_to == harness.root
    assert ack.references == (harness.root,)
    assert ack.subject == "Re: Lunch on Friday"
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    assert f"[#{ticket_reference(harness.thread_id)}]" in ack.text
    assert harness.thread_id not in ack.text, "the workflow id is ours, not the customer's"
    # The thread records the acknowledgement once its send activity has returned: a moment
    # after the sender saw it.
    await wait_for(lambda: _acknowledged(harness), what="the acknowledgement recorded")


async def test_a_redelivered_message_id_is_applied_once(harness: Harness) -> None:
    for _ in range(3):
        await harness.gateway.new_message(harness.key, harness.message(0))
    await harness.gateway.new_message(harness.key, harness.message(1))
    state = await wait_for(lambda: harness.has_messages(2), what="both messages")
    await wait_for(lambda: _dups(harness, 2), what="both duplicates counted")
    assert state.message_ids.count(harness.root) == 1
    assert (await harness.state()).message_count == 2


async def _continued_with(harness: Harness, count: int) -> ThreadState | None:
    state = await harness.state()
    return state if state.runs >= 2 and state.message_count >= count else None


async def _dups(harness: Harness, count: int) -> bool:
    return (await harness.state()).duplicates_ignored >= count


async def test_automatic_mail_is_never_answered(harness: Harness) -> None:
    await harness.gateway.new_message(
        harness.key, harness.message(0, automatic="auto-submitted: auto-replied")
    )
    await harness.gateway.new_message(harness.key, harness.message(1, automatic="precedence: bulk"))
    state = await wait_for(lambda: harness.has_messages(2), what="both messages")
    assert harness.sender.sent == [] and not state.acknowledged
    await harness.gateway.new_message(harness.key, harness.message(2))
    await wait_for(lambda: harness.sender.sent, what="ack to the human message")
    assert harness.sender.sent[0].in_reply_to == harness.message(2).message_id


async def test_complete_thread_finishes_the_run_with_its_state(harness: Harness) -> None:
    await harness.gateway.new_message(harness.key, harness.message(0))
    await wait_for(lambda: harness.has_messages(1), what="the message")
    await harness.gateway.complete(harness.key.workflow_id, CompleteRequest(reason="solved"))
    # by id and result type, as tests/workflows/test_workflow_metrics.py reads it (mypy)
    thread_id = harness.key.workflow_id
    handle = harness.env.client.get_workflow_handle(thread_id, result_type=ThreadState)
    final: ThreadState = await handle.result()
    assert final.status is ThreadStatus.COMPLETED
    assert final.completed_reason == "solved"
    assert final.message_ids == [harness.root]


async def test_a_late_reply_reopens_the_completed_thread_with_its_history(harness: Harness) -> None:
    await harness.gateway.new_message(harness.key, harness.message(0))
    await wait_for(lambda: harness.has_messages(1), what="the message")
    await harness.gateway.complete(harness.key.workflow_id, CompleteRequest())
    await wait_for(lambda: _status(harness, ThreadStatus.COMPLETED), what="completion")
    await harness.gateway.new_message(harness.key, harness.message(1))
    await harness.gateway.new_message(harness.key, harness.message(0))  # a re-delivery, still dedup
    state = await wait_for(lambda: harness.has_messages(2), what="the reopened thread")
    assert state.status is ThreadStatus.OPEN and state.reopened == 1
    assert state.message_ids == [harness.root, harness.message(1).message_id]
    await wait_for(lambda: _dups(harness, 1), what="the re-delivery to be ignored")
    assert len(harness.sender.sent) == 1, "a reopened thread is not acknowledged again"


async def _status(harness: Harness, status: ThreadStatus) -> bool:
    return (await harness.state()).status is status


async def test_continue_as_new_carries_state_and_dedup(harness: Harness) -> None:
    total = 25  # messages_per_run=10
    for n in range(total):
        await harness.gateway.new_message(harness.key, harness.message(n))
    # The signal handler counts a message as it arrives, so all 25 can be counted by the
    # first run before it handles them: wait for the continue-as-new itself, or the
    # duplicate below would be caught by the first run's memory, not the carried one.
    state = await wait_for(lambda: _continued_with(harness, total), what="a later run")
    assert state.runs >= 2
    await harness.gateway.new_message(harness.key, harness.message(3))
    await wait_for(lambda: _dups(harness, 1), what="dedup across runs")
    state = await harness.state()
    assert state.message_count == total and len(set(state.message_ids)) == total
    assert len(harness.sender.sent) == 1


async def test_a_failing_relay_is_retried_until_the_ack_goes_out(harness: Harness) -> None:
    harness.sender.failures_left = 2
    await harness.gateway.new_message(harness.key, harness.message(0))
    await wait_for(lambda: harness.sender.sent, what="the ack after retries")
    assert harness.sender.attempts == 3 and len(harness.sender.sent) == 1


async def test_a_mail_the_relay_refuses_for_good_is_recorded_not_retried(harness: Harness) -> None:
    from use_cases.ports import PermanentDeliveryFailure

    harness.sender.refuse_with = PermanentDeliveryFailure("550", "5.1.1 no such user")
    await harness.gateway.new_message(harness.key, harness.message(0))
    state = await wait_for(lambda: _failed(harness), what="the recorded failure")
    failure = state.delivery_failures[0]
    assert (failure.status, failure.reason, failure.source) == (
        "550",
        "5.1.1 no such user",
        "relay",
    )
    assert failure.recipients == ("alice@example.com",)
    assert harness.sender.attempts == 1, "a 5xx is not retried"
    assert state.status is ThreadStatus.OPEN


async def _failed(harness: Harness) -> object:
    state = await harness.state()
    return state if state.delivery_failures else None


async def _acknowledged(h: Harness) -> bool:
    return (await h.state()).acknowledged


async def test_a_run_that_inherits_a_finished_flow_completes(harness: Harness) -> None:
    """Continued-as-new just as its child flow's last report came: the flow is done and
    there is no flow to wait for, so the thread completes, as the run before would have."""
    inherited = ThreadState(
        thread_id=harness.thread_id,
        workflow_id=harness.thread_id,
        mailbox=harness.mailbox,
        flow="procurement",
        flow_mode="child",
        flow_workflow_id=f"{harness.thread_id}-procurement-1",
        flow_finished=True,
        flows_started=1,
        stage="confirmed",
        message_ids=[harness.root],
        message_count=1,
    )
    await harness.env.client.start_workflow(
        ThreadWorkflow.run,
        ThreadInput(thread_id=harness.thread_id, mailbox=harness.mailbox, state=inherited),
        id=harness.thread_id,
        task_queue=harness.settings.task_queue,
    )
    completed = await wait_for(lambda: _completed(harness), what="the thread to complete")
    assert completed.completed_reason == "procurement flow confirmed"
    assert harness.sender.sent == [], "nothing sent again"


async def _completed(harness: Harness) -> ThreadState | None:
    state = await harness.state()
    return state if state.status is ThreadStatus.COMPLETED else None


async def test_another_mail_reusing_a_message_id_is_kept_and_marked(harness: Harness) -> None:
    await harness.send(0, content_digest="d0")
    await harness.send(1, content_digest="d1", text="first")
    await harness.send(1, content_digest="d1", text="first")  # delivered again: dropped
    await harness.send(1, content_digest="d2", text="other content, same Message-ID")
    state = await wait_for(lambda: harness.has_messages(3), what="the reused id kept")
    await wait_for(lambda: _dups(harness, 1), what="the redelivery dropped")
    state = await harness.state()
    assert state.message_count == 3 and state.message_id_collisions == 1
    assert [m.collision for m in state.messages] == [False, False, True]


async def test_mail_without_a_digest_is_deduplicated_by_message_id(harness: Harness) -> None:
    """Mail recorded before digests existed (and the replay of its history)."""
    await harness.send(0)
    await harness.send(0, content_digest="d9")
    await wait_for(lambda: _dups(harness, 1), what="the duplicate")
    assert (await harness.state()).message_count == 1
