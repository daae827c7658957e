"""A close that arrives while the thread waits to continue-as-new (for its pending
acknowledgement) completes the thread: continue-as-new must not drop it."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig
from use_cases.human_replies import human_reply_id
from use_cases.models import CompleteRequest, HumanReply, ThreadState, ThreadStatus


async def _close(h: Harness, how: str) -> None:
    if how == "reply --close":
        text = "Noon is fine."
        reply_id = human_reply_id(h.thread_id, text, "ops")
        reply = HumanReply(text=text, by="ops", close=True, message_id=reply_id)
        await h.gateway.reply(h.thread_id, reply)
    else:
        await h.gateway.complete(h.thread_id, CompleteRequest(reason="done", requested_by="ops"))


@pytest.mark.parametrize("how", ["reply --close", "complete"])
async def test_a_close_while_the_thread_waits_to_continue_as_new_completes_it(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, how: str
) -> None:
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox="hello@mailroom.local",
        messages_per_run=2,
        flow_config=FlowConfig(),
    ) as h:
        await h.send(0, subject="Lunch on Friday", text="Shall we meet at noon?")
        await h.send(1, text="Or at one?")

        async def for_a_person() -> ThreadState | None:
            s = await h.state()
            return s if s.message_count == 2 and s.stage == "needs_human" else None

        # two mails: the run's last; it now waits for its acknowledgement's delay to end
        await wait_for(for_a_person, what="two mails in a thread for a person")
        await _close(h, how)

        async def completed_or_continued() -> ThreadState | None:
            s = await h.state()
            return s if s.runs >= 2 or s.status is ThreadStatus.COMPLETED else None

        state = await wait_for(completed_or_continued, what="completion", timeout=60)
        assert state.status is ThreadStatus.COMPLETED and state.runs == 1
