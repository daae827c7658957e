"""A reply to any mail mailroom sent finds its thread, over real SMTP: one that keeps only
In-Reply-To to the knowledge-base answer (not the acknowledgement), and one that keeps no
threading header at all but goes to the answer's Reply-To."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.mail import OutboxEntry
from use_cases.models import ThreadState
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
ALICE = "alice@example.com"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue)
    async with running_stack(dev_server.client, settings) as running:
        yield running


async def test_replies_to_the_answer_join_the_thread(stack: Stack, unique: str) -> None:
    root = f"<q-{unique}@example.com>"
    question = raw_mail(
        sender=ALICE,
        to=SUPPORT,
        subject="Printer on fire",
        message_id=root,
        body="My printer is on fire, flames everywhere.\r\n",
    )
    await stack.send(question, [SUPPORT], sender=ALICE)
    thread_id = workflow_id_for(SUPPORT, root)
    answer = await wait_for(lambda: _answer(stack, root), what="the knowledge-base answer")
    assert answer.reply_to and answer.reply_to.startswith("support+t"), answer.reply_to

    # Only In-Reply-To, to the answer, and a subject of its own: the index knows the answer.
    keeps_one = raw_mail(
        sender=ALICE,
        to=SUPPORT,
        subject="Still burning",
        message_id=f"<r1-{unique}@example.com>",
        body="It did not help.\r\n",
    )
    keeps_one = keeps_one.replace(
        b"\r\n\r\n", f"\r\nIn-Reply-To: {answer.message_id}\r\n\r\n".encode(), 1
    )
    await stack.send(keeps_one, [SUPPORT], sender=ALICE)
    # No threading header at all, to the answer's Reply-To: the signed token.
    keeps_none = raw_mail(
        sender=ALICE,
        to=answer.reply_to,
        subject="Another thing",
        message_id=f"<r2-{unique}@example.com>",
        body="Also, the fax smokes.\r\n",
    )
    await stack.send(keeps_none, [answer.reply_to], sender=ALICE)

    state = await wait_for(lambda: _with(stack, thread_id, 3), what="both replies in the thread")
    assert [m.thread_rule for m in state.messages][1:] == ["index", "reply-token"]


async def _answer(stack: Stack, root: str) -> OutboxEntry | None:
    found = [
        e
        for e in stack.wiring.outbox.entries()
        if e.in_reply_to == root and "-answer-" in e.message_id
    ]
    return found[0] if found else None


async def _with(stack: Stack, thread_id: str, count: int) -> ThreadState | None:
    state = await stack.gateway.get(thread_id)
    return state if state.message_count >= count else None
