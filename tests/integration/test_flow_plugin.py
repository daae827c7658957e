"""The flow registry's guard: a flow defined only in the test package (tests/flows/echo.py),
registered by one FlowSpec, is driven end to end over real SMTP — its own task queue, its own
worker, its facts in the thread — as a child workflow and inline. Nothing in mailroom's own
modules names it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.flows import FLOWS
from tests.faults.mta import raw_mail
from tests.flows.echo import ECHO
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.models import FlowMode, ThreadState, ThreadStatus
from use_cases.threading import workflow_id_for

ECHO_MAILBOX = "echo@mailroom.local"


@pytest.fixture(params=["child", "inline"])
async def stack(
    request: pytest.FixtureRequest, dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path,
        dev_server.client,
        task_queue,
        mailboxes=["support@mailroom.local", ECHO_MAILBOX],
    )
    # its mode as its FlowSpec declares it (MAILROOM_FLOW_MODES knows mailroom's own flows)
    echo = dataclasses.replace(ECHO, mode=FlowMode(request.param))
    async with running_stack(dev_server.client, settings, flows=(*FLOWS, echo)) as running:
        yield running


async def test_a_flow_from_the_test_package_runs_end_to_end_over_smtp(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    root = f"<echo-{unique}@example.com>"
    mail = raw_mail(
        sender="carol@example.com",
        to=ECHO_MAILBOX,
        subject="Count",
        message_id=root,
        body="one two three four\r\n",
    )
    await stack.send(mail, [ECHO_MAILBOX], sender="carol@example.com")
    thread_id = workflow_id_for(ECHO_MAILBOX, root)

    state = await wait_for(lambda: _at(stack, thread_id, "answered"), what="the echo flow's answer")
    assert state.flow == "echo" and state.facts == {"words": 4}
    echo = await wait_for(lambda: _echoed(stack), what="the echo in the outbox")
    assert echo == ["carol@example.com"]

    second = raw_mail(
        sender="carol@example.com",
        to=ECHO_MAILBOX,
        subject="Re: Count",
        message_id=f"<second-{unique}@example.com>",
        body="thanks\r\n",
        in_reply_to=root,
    )
    await stack.send(second, [ECHO_MAILBOX], sender="carol@example.com")
    done = await wait_for(lambda: _completed(stack, thread_id), what="the flow's end")
    assert done.stage == "done" and done.completed_reason == "echo flow done"
    assert done.flow_mode == next(f.mode for f in stack.wiring.flows if f.name == "echo")
    if done.flow_mode == "child":
        child = dev_server.client.get_workflow_handle(done.flow_workflow_id or "")
        described = await child.describe()
        assert described.task_queue == ECHO.queue_for(stack.wiring.settings.queue_prefix)


async def _at(stack: Stack, thread_id: str, stage: str) -> ThreadState | None:
    state = await stack.gateway.get(thread_id)
    return state if state.stage == stage else None


async def _completed(stack: Stack, thread_id: str) -> ThreadState | None:
    state = await stack.gateway.get(thread_id)
    return state if state.status is ThreadStatus.COMPLETED else None


def _echoed(stack: Stack) -> list[str]:
    entries = [e for e in stack.wiring.outbox.entries() if "-echo-" in e.message_id]
    return [a for e in entries for a in e.to]
