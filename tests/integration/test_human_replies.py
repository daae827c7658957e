"""People answer, over the real stack: a support mail the knowledge base cannot answer is
escalated to the team over SMTP, `mailroom reply` sends the operator's answer to the
customer once, threaded and with the thread's reply token, and a team member's reply to
their escalation notice (its signed address) reaches the customer too."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.cli_reply import cmd_reply
from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.human_replies import human_reply_id
from use_cases.mail import OutboxEntry
from use_cases.models import ThreadState
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
AGENT = "agent@corp.example"
CUSTOMER = "alice@example.com"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue, support_team=AGENT)
    async with running_stack(dev_server.client, settings) as running:
        yield running


async def test_an_escalated_question_is_answered_by_mailroom_reply_once_threaded(
    stack: Stack, unique: str
) -> None:
    question_id = f"<noise-{unique}@example.com>"
    question = raw_mail(
        sender=f"Alice <{CUSTOMER}>",
        to=SUPPORT,
        subject="Strange noise",
        message_id=question_id,
        body="The fan in my office makes a strange noise.\r\n",
    )
    await stack.send(question, [SUPPORT], sender=CUSTOMER)
    thread_id = workflow_id_for(SUPPORT, question_id)
    await wait_for(lambda: _mail(stack, AGENT, "-escalation-"), what="the team's notice")
    told = await wait_for(lambda: _mail(stack, CUSTOMER, "-escalated-"), what="the customer told")
    token = told.reply_to or ""
    assert token.startswith("support+") and token != SUPPORT

    text = "Our technician comes tomorrow at nine."
    command = argparse.Namespace(thread_id=thread_id, body=text, file=None, close=False, by="ops")
    settings = stack.wiring.settings
    assert await asyncio.to_thread(cmd_reply, settings, command) == 0
    assert await asyncio.to_thread(cmd_reply, settings, command) == 0  # run again: same reply
    state = await wait_for(lambda: _answered(stack, thread_id, 1), what="the reply recorded")
    reply_id = human_reply_id(thread_id, text + "\n", "ops", after=question_id)
    sent = [e for e in stack.wiring.outbox.entries() if e.message_id == reply_id]
    assert len(sent) == 1 and sent[0].to == [CUSTOMER]
    assert sent[0].in_reply_to == question_id and sent[0].reply_to == token
    assert "answered by ops" in [c.note for c in state.history]

    notice = await wait_for(lambda: _mail(stack, AGENT, "-escalation-"), what="the notice")
    signed = notice.reply_to or ""
    assert signed.startswith("support+d"), "the agent answers through an own signed address"
    agent_reply = raw_mail(
        sender=f"Agent <{AGENT}>",
        to=signed,
        subject="Re: [normal] Strange noise",
        message_id=f"<agent-{unique}@corp.example>",
        body="Please also switch it off tonight.\r\n\r\n> Priority normal\r\n",
        in_reply_to=notice.message_id,
        references=(notice.message_id,),
    )
    await stack.send(agent_reply, [signed], sender=AGENT)
    await wait_for(lambda: _answered(stack, thread_id, 2), what="the agent's answer")
    forwarded = [
        e
        for e in stack.wiring.outbox.entries()
        if e.to == [CUSTOMER] and "agent-answer" in e.message_id
    ]
    assert len(forwarded) == 1 and forwarded[0].reply_to == token


async def _mail(stack: Stack, address: str, purpose: str) -> OutboxEntry | None:
    found = [
        e for e in stack.wiring.outbox.entries() if address in e.to and purpose in e.message_id
    ]
    return found[0] if found else None


async def _answered(stack: Stack, thread_id: str, count: int) -> ThreadState | None:
    try:
        state = await stack.gateway.get(thread_id)
    except ThreadNotFound:
        return None
    return state if state.human_replies >= count else None
