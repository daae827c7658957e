"""DigestWorkflow under the time-skipping server: real activities over fake ports."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.digest import DigestActivities
from orchestrator.workflow_runner import WORKFLOW_RUNNER
from tests.fakes import FakeEmailSender, FakeThreadGateway
from use_cases.digest import DigestInput, DigestResult
from use_cases.models import MessageSummary, ThreadState, ThreadStatus
from workflows.digest import DigestWorkflow

OPENED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def thread(reference: str, stage: str, status: ThreadStatus = ThreadStatus.OPEN) -> ThreadState:
    first = MessageSummary(
        message_id=f"<{reference}@example.com>",
        from_addr="alice@example.com",
        subject=f"About {reference}",
        received_at=OPENED,
    )
    return ThreadState(
        thread_id=f"thread-{reference}",
        workflow_id=f"thread-{reference}",
        mailbox="support@mailroom.local",
        status=status,
        subject=f"About {reference}",
        messages=[first],
        flow="support",
        stage=stage,
        reference=reference,
    )


async def test_the_digest_lists_open_threads_and_a_retried_send_goes_out_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    threads, sender = FakeThreadGateway(), FakeEmailSender()
    threads.listed = [
        thread("ESC001", "escalated"),
        thread("OPEN02", "answered"),
        thread("DONE03", "resolved", ThreadStatus.COMPLETED),
    ]
    sender.failures_left = 2  # the relay is down twice: the send is retried
    digest = DigestActivities(threads, sender, "postmaster@mailroom.local")
    client = time_skipping_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[DigestWorkflow],
        activities=[digest.gather_digest, digest.send_digest],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await client.start_workflow(
            DigestWorkflow.run,
            DigestInput(to=("ops@example.com",)),
            id=f"digest-{task_queue}",
            task_queue=task_queue,
        )
        result = await handle.result()
        history = await handle.fetch_history()
    assert result == DigestResult(message_id=result.message_id, open_threads=2, escalated=1)
    assert (sender.attempts, len(sender.sent)) == (3, 1)
    mail = sender.sent[0]
    assert (mail.message_id, mail.to) == (result.message_id, ("ops@example.com",))
    assert mail.from_addr == "postmaster@mailroom.local"
    assert mail.subject == "mailroom digest: 2 open, 1 escalated"
    assert "#ESC001" in mail.text and "#OPEN02" in mail.text and "DONE03" not in mail.text
    assert mail.headers["Auto-Submitted"] == "auto-generated"
    await replays(history)


async def replays(history: WorkflowHistory) -> None:
    """The recorded run replays on the same code: the workflow is deterministic."""
    replayer = Replayer(
        workflows=[DigestWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)
