"""A mail whose subject keeps the ticket reference finds its thread over real SMTP, the
SQLite thread index and Temporal, with no threading header and no reply token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue)
    async with running_stack(dev_server.client, settings) as running:
        yield running


async def test_a_new_mail_naming_the_reference_joins_the_thread(stack: Stack, unique: str) -> None:
    root = f"<q-{unique}@example.com>"
    question = raw_mail(
        sender="alice@example.com",
        to=SUPPORT,
        subject="Printer on fire",
        message_id=root,
        body="My printer is on fire.\r\n",
    )
    await stack.send(question, [SUPPORT], sender="alice@example.com")
    thread_id = workflow_id_for(SUPPORT, root)
    state = await wait_for(lambda: stack.with_messages(thread_id, 1), what="the thread")
    assert state.reference, "the thread knows its reference"

    # A colleague writes afresh, naming the reference only (as a phone call told them).
    colleague = raw_mail(
        sender="bob@example.net",
        to=SUPPORT,
        subject=f"Printer [#{state.reference}]: the fire is out",
        message_id=f"<b-{unique}@example.net>",
        body="Fire brigade came.\r\n",
    )
    await stack.send(colleague, [SUPPORT], sender="bob@example.net")
    state = await wait_for(lambda: stack.with_messages(thread_id, 2), what="the second mail")
    assert state.messages[-1].thread_rule == "ticket-reference"
