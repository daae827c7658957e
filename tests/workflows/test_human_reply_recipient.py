"""`mailroom reply` goes to the same address whether a flow runs or not: where automatic
mail about the thread's first mail goes. With nobody to send it to, nothing is sent, the
thread's history says so, and --close leaves the thread open for a person."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from tests.workflows.test_support_humans import (  # the module's harness: flow_config
    MAILBOX,
    UNKNOWN,
    escalated,
    flow_config,
    operator_reply,
)
from use_cases.flows import FlowConfig
from use_cases.models import ThreadState, ThreadStatus

__all__ = ["MAILBOX", "flow_config"]  # read by conftest.py
LIST_REPLY_TO = "team-list@example.com"


async def _noted(h: Harness, stage: str) -> ThreadState | None:
    state = await h.state()
    return state if any(c.stage == stage for c in state.history) else None


async def test_a_reply_in_a_support_flow_goes_where_automatic_mail_goes(harness: Harness) -> None:
    await harness.send(0, reply_target=LIST_REPLY_TO, **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    reply = operator_reply(harness, "Our technician comes tomorrow.")
    await harness.gateway.reply(harness.thread_id, reply)
    await wait_for(lambda: [m for m in harness.sender.sent if m.message_id == reply.message_id])
    [mail] = [m for m in harness.sender.sent if m.message_id == reply.message_id]
    assert mail.to == (LIST_REPLY_TO,) and "Auto-Submitted" not in mail.headers


async def test_a_reply_with_nobody_to_send_it_to_is_noted_and_does_not_close(
    harness: Harness,
) -> None:
    await harness.send(0, reply_target="", from_addr="noreply@example.com", **UNKNOWN)
    await wait_for(lambda: escalated(harness), what="the escalation")
    reply = operator_reply(harness, "Our technician comes tomorrow.", close=True)
    await harness.gateway.reply(harness.thread_id, reply)
    state = await wait_for(lambda: _noted(harness, "reply not sent"), what="the note")
    assert not [m for m in harness.sender.sent if m.message_id == reply.message_id]
    assert state.status is ThreadStatus.OPEN and state.human_replies == 0


async def test_a_reply_without_a_flow_goes_where_a_flow_would_send_it(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox="hello@mailroom.local",
        flow_config=FlowConfig(),
    ) as h:
        await h.send(0, reply_target=LIST_REPLY_TO, text="Shall we meet at noon?")
        await wait_for(lambda: h.at_stage("needs_human"), what="a thread for a person")
        reply = operator_reply(h, "Noon is fine.")
        await h.gateway.reply(h.thread_id, reply)
        await wait_for(lambda: [m for m in h.sender.sent if m.message_id == reply.message_id])
        [mail] = [m for m in h.sender.sent if m.message_id == reply.message_id]
        assert mail.to == (LIST_REPLY_TO,) and "Auto-Submitted" not in mail.headers


async def test_a_reply_without_a_flow_and_without_an_address_is_noted_not_closed(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    async with thread_harness(
        time_skipping_env,
        task_queue,
        tmp_path,
        mailbox="hello@mailroom.local",
        flow_config=FlowConfig(),
    ) as h:
        await h.send(0, reply_target="", from_addr="noreply@example.com", text="Noon?")
        await wait_for(lambda: h.at_stage("needs_human"), what="a thread for a person")
        await h.gateway.reply(h.thread_id, operator_reply(h, "Noon is fine.", close=True))
        state = await wait_for(lambda: _noted(h, "reply not sent"), what="the note")
        assert state.status is ThreadStatus.OPEN and not h.sender.sent
