"""Mail over real SMTP → the adapter → a real Temporal dev server → ThreadWorkflow → outbox."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal_server import temporal_cli
from tests.conftest import FIXTURES
from tests.stack import Stack, acknowledgements, running_stack, sent_text, stack_settings
from tests.support import free_port, wait_for
from use_cases.models import ThreadState
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for
from use_cases.tickets import ticket_reference

SUPPORT = "support@mailroom.local"
PROCUREMENT = "procurement@mailroom.local"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def unique_ids(raw: bytes, tag: str) -> bytes:
    """Fixture mail with Message-IDs made unique to this test (the dev server is shared)."""
    return re.sub(rb"<((?:question|multi|ooo)-\d+)@", rb"<\1-" + tag.encode() + rb"@", raw)


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue, max_message_bytes=200_000)
    async with running_stack(dev_server.client, settings) as running:
        yield running


async def thread_with(stack: Stack, thread_id: str, count: int) -> ThreadState | None:
    try:
        state = await stack.gateway.get(thread_id)
    except ThreadNotFound:
        return None
    return state if state.message_count >= count else None


async def test_a_question_and_its_reply_share_a_thread_and_get_one_ack(
    stack: Stack, unique: str
) -> None:
    await stack.send(unique_ids(fixture("support_question.eml"), unique), [SUPPORT])
    await stack.send(unique_ids(fixture("support_reply.eml"), unique), [SUPPORT])
    root = f"<question-1-{unique}@example.com>"
    thread_id = workflow_id_for(SUPPORT, root)
    state = await wait_for(lambda: thread_with(stack, thread_id, 2), what="both mails in thread")
    assert state.message_ids == [root, f"<question-2-{unique}@example.com>"]
    assert state.participants == ["alice@example.com"]
    assert state.subject == "Printer on fire"

    acks = await wait_for(lambda: acknowledgements(stack), what="the acknowledgement")
    assert len(acks) == 1
    ack = acks[0]
    assert ack.to == ["alice@example.com"]
    assert ack.in_reply_to == root and ack.references == [root]
    # Reply-To carries the thread's signed token (support+t…@), so any reply threads.
    assert ack.reply_to is not None and ack.reply_to.startswith("support+t")
    assert ack.reply_to.endswith("@mailroom.local")
    reference = ticket_reference(thread_id)
    assert ack.subject == f"Re: Printer on fire [#{reference}]"
    text = sent_text(stack, ack.message_id)  # one signature, then the reference
    assert text.count("\n-- \n") == 1 and text.endswith(f"\nTicket [#{reference}]\n")


async def test_a_reply_to_our_acknowledgement_joins_the_thread(stack: Stack, unique: str) -> None:
    await stack.send(unique_ids(fixture("support_question.eml"), unique), [SUPPORT])
    ack = (await wait_for(lambda: acknowledgements(stack), what="the ack"))[0]
    reply = (
        f"From: alice@example.com\r\nTo: {SUPPORT}\r\nSubject: Re: Printer on fire\r\n"
        f"Message-ID: <thanks-{unique}@example.com>\r\nIn-Reply-To: {ack.message_id}\r\n"
        f"References: {' '.join(ack.references)} {ack.message_id}\r\n\r\nThanks!\r\n"
    ).encode()
    await stack.send(reply, [SUPPORT])
    thread_id = workflow_id_for(SUPPORT, f"<question-1-{unique}@example.com>")
    state = await wait_for(lambda: thread_with(stack, thread_id, 2), what="the reply")
    assert state.message_ids[-1] == f"<thanks-{unique}@example.com>"
    assert len(acknowledgements(stack)) == 1


async def test_the_same_message_id_twice_is_applied_once(stack: Stack, unique: str) -> None:
    raw = unique_ids(fixture("support_question.eml"), unique)
    await stack.send(raw, [SUPPORT])
    await stack.send(raw, [SUPPORT])
    await stack.send(unique_ids(fixture("support_reply.eml"), unique), [SUPPORT])
    thread_id = workflow_id_for(SUPPORT, f"<question-1-{unique}@example.com>")
    state = await wait_for(lambda: thread_with(stack, thread_id, 2), what="the thread")
    assert state.message_count == 2 and state.duplicates_ignored == 1
    assert len(acknowledgements(stack)) == 1


async def test_one_mail_to_two_of_our_mailboxes_reaches_both_threads(
    stack: Stack, unique: str
) -> None:
    await stack.send(unique_ids(fixture("multi_mailbox.eml"), unique), [SUPPORT, PROCUREMENT])
    root = f"<multi-1-{unique}@example.com>"
    for mailbox in (SUPPORT, PROCUREMENT):
        thread_id = workflow_id_for(mailbox, root)
        state = await wait_for(
            lambda t=thread_id: thread_with(stack, t, 1),  # type: ignore[misc]
            what=f"thread in {mailbox}",
        )
        assert state.mailbox == mailbox
    entries = await wait_for(
        lambda: len(acknowledgements(stack)) == 2 and acknowledgements(stack),
        what="two acks",
    )
    assert sorted(e.from_addr for e in entries) == sorted([SUPPORT, PROCUREMENT])


async def test_automatic_mail_is_threaded_but_not_answered(stack: Stack, unique: str) -> None:
    await stack.send(unique_ids(fixture("auto_reply.eml"), unique), [SUPPORT], sender="")
    thread_id = workflow_id_for(SUPPORT, f"<ooo-1-{unique}@example.com>")
    state = await wait_for(lambda: thread_with(stack, thread_id, 1), what="the auto-reply")
    assert state.messages[0].automatic and not state.acknowledged
    assert stack.wiring.outbox.entries() == []


async def test_a_foreign_recipient_is_refused_with_550(stack: Stack) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await stack.send(fixture("support_question.eml"), ["someone@elsewhere.example"])
    code, text = refused.value.recipients["someone@elsewhere.example"]
    assert code == 550 and b"5.1.1" in text
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await stack.send(fixture("support_question.eml"), ["sales@mailroom.local"])  # not a mailbox


async def test_over_size_mail_is_refused_with_552(stack: Stack) -> None:
    huge = fixture("support_question.eml") + b"x" * 300_000 + b"\r\n"
    with pytest.raises(smtplib.SMTPResponseException) as error:
        await stack.send(huge, [SUPPORT])
    assert error.value.smtp_code == 552


async def test_451_while_temporal_is_down_then_250_once_it_is_back(
    tmp_path: Path, task_queue: str, unique: str
) -> None:
    port = free_port()
    lazy = await Client.connect(
        f"127.0.0.1:{port}", lazy=True, data_converter=pydantic_data_converter
    )
    settings = stack_settings(tmp_path, lazy, task_queue)
    raw = unique_ids(fixture("support_question.eml"), unique)
    async with running_stack(lazy, settings, worker=False) as stack:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            await stack.send(raw, [SUPPORT])
        assert deferred.value.smtp_code == 451 and b"4.3.0" in deferred.value.smtp_error

        server = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()),
            port=port,
            ui=False,
            data_converter=pydantic_data_converter,
        )
        try:
            async with running_stack(server.client, stack_settings(tmp_path, lazy, task_queue)):
                assert await stack.send(raw, [SUPPORT]) == {}  # the sending MTA's retry succeeds
                thread_id = workflow_id_for(SUPPORT, f"<question-1-{unique}@example.com>")
                state = await wait_for(lambda: thread_with(stack, thread_id, 1), what="thread")
                assert state.message_count == 1
        finally:
            await server.shutdown()


async def test_swaks_as_a_real_mail_client_gets_its_mail_threaded(
    stack: Stack, unique: str
) -> None:
    import os
    import shutil

    if shutil.which("swaks") is None:
        if os.environ.get("CI"):
            pytest.fail("swaks is missing: .ci/run installs it")
        pytest.skip("swaks (Debian package) is not installed")
    message_id = f"<swaks-{unique}@example.com>"
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server",
        f"127.0.0.1:{stack.smtp_port}",
        "--to",
        SUPPORT,
        "--from",
        "erin@example.com",
        "--header",
        f"Message-Id: {message_id}",
        "--header",
        "Subject: Lunch on Friday",
        "--body",
        "Are we still on?",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    transcript, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, transcript.decode()
    assert f"<-  250 2.0.0 OK: queued as {message_id}".encode() in transcript
    thread_id = workflow_id_for(SUPPORT, message_id)
    state = await wait_for(lambda: thread_with(stack, thread_id, 1), what="swaks' mail")
    assert state.participants[0] == "erin@example.com"
