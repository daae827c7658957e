"""Done when (issue 22): no plaintext mail in what Temporal stores. A real thread (a support
question answered inline, a purchase request run by a child flow) through the real stack,
then its raw history, description and listing read over gRPC without decoding: the mail's
subject, text, sender and our reply occur nowhere. mailroom still reads it, after a key
rotation too; a worker or command with the wrong key says so."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.key_ring import new_key_entry
from orchestrator.bootstrap import connect
from tests.encryption import TEST_KEY
from tests.stack import Stack, running_stack, sent_text, stack_settings
from tests.support import run_mailroom, wait_for
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
PROCUREMENT = "procurement@mailroom.local"
OLD_KEY = f"k0:{base64.b64encode(TEST_KEY).decode()}"


@dataclass(frozen=True)
class Mail:
    """A mail whose every distinctive part is looked for in what Temporal stores."""

    raw: bytes
    to: str
    sender: str
    secrets: tuple[str, ...]  # subject, a line of its text, its sender

    @property
    def thread_id(self) -> str:
        message_id = self.raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].decode()
        return workflow_id_for(self.to, message_id)


def question(unique: str) -> Mail:
    sender = f"quentin.{unique}@privacy.example"
    subject = f"Printer on fire in Zanzibar {unique}"
    text = f"my printer is on fire next to the aquarium {unique}. What should I do?"
    raw = (
        f"From: Quentin <{sender}>\nTo: {SUPPORT}\nSubject: {subject}\n"
        f"Message-ID: <q-{unique}@privacy.example>\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\nHello,\n\n{text}\n\nQuentin\n"
    )
    return Mail(raw.encode(), SUPPORT, sender, (subject, text, sender))


def purchase(unique: str) -> Mail:
    sender = f"petra.{unique}@privacy.example"
    subject = f"RFQ: 20 laptops for the Quokka team {unique}"
    text = f"Please quote 20 laptops for the Quokka team {unique}, budget EUR 30 000."
    raw = (
        f"From: Petra <{sender}>\nTo: {PROCUREMENT}\nSubject: {subject}\n"
        f"Message-ID: <rfq-{unique}@privacy.example>\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{text}\n\nPetra\n"
    )
    return Mail(raw.encode(), PROCUREMENT, sender, (subject, text, sender))


def follow_up(mail: Mail, unique: str, number: int) -> bytes:
    """Another mail in `mail`'s thread (it answers our reply)."""
    first = mail.raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].decode()
    return (
        f"From: <{mail.sender}>\nTo: {mail.to}\nSubject: Re: follow-up\n"
        f"Message-ID: <again-{number}-{unique}@privacy.example>\nIn-Reply-To: {first}\n"
        f"References: {first}\nMIME-Version: 1.0\nContent-Type: text/plain\n\nStill burning.\n"
    ).encode()


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, data_dir: Path, task_queue: str
) -> AsyncIterator[Stack]:
    """The stack with the client mailroom itself connects with (its converter, its keys)."""
    settings = stack_settings(data_dir, dev_server.client, task_queue, search_attributes=True)
    client = await connect(settings)
    async with running_stack(client, settings) as running:
        yield running


async def stored(client: Client, workflow_id: str) -> bytes:
    """Everything the server keeps of a workflow, as it keeps it: its whole history, its
    description and its row in the workflow list, serialized, nothing decoded."""
    namespace = client.namespace
    execution = WorkflowExecution(workflow_id=workflow_id)
    service = client.workflow_service
    kept = b""
    token = b""
    while True:
        page = await service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=namespace, execution=execution, next_page_token=token
            )
        )
        kept += page.SerializeToString()
        token = page.next_page_token
        if not token:
            break
    described = await service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=namespace, execution=execution)
    )
    listed = await service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=namespace, query=f"WorkflowId = '{workflow_id}'")
    )
    assert listed.executions, f"{workflow_id} is not listed"
    return kept + described.SerializeToString() + listed.SerializeToString()


def replies_to(stack: Stack, address: str) -> list[str]:
    return [
        sent_text(stack, entry.message_id)
        for entry in stack.wiring.outbox.entries()
        if address in entry.to
    ]


def distinctive_lines(texts: list[str]) -> list[str]:
    """Our replies' own lines (long enough to be ours, not a word any payload may hold)."""
    return [line.strip() for text in texts for line in text.splitlines() if len(line) > 30]


async def test_the_history_of_a_thread_its_child_flow_and_activities_holds_no_mail(
    stack: Stack, unique: str
) -> None:
    mails = [question(unique), purchase(unique)]
    for mail in mails:
        await stack.send(mail.raw, [mail.to], sender=mail.sender)
    answered = await wait_for(
        lambda: _all_answered(stack, mails), what="a reply to each mail", timeout=60
    )
    child = f"{mails[1].thread_id}-procurement-1"
    await wait_for(lambda: _stage_of(stack, mails[1].thread_id), what="the purchase's stage")
    client = stack.gateway.client

    kept = b"".join(
        [await stored(client, m.thread_id) for m in mails] + [await stored(client, child)]
    )
    secrets = [s for m in mails for s in m.secrets] + distinctive_lines(answered)
    assert secrets and len(kept) > 10_000  # a real history, not an empty page
    found = [s for s in secrets if s.encode() in kept or s.lower().encode() in kept.lower()]
    assert found == []
    assert b"binary/encrypted" in kept

    shown = await stack.gateway.get(mails[0].thread_id)  # mailroom's client decodes it all
    assert shown.subject == mails[0].secrets[0] and shown.participants == [mails[0].sender]


async def _all_answered(stack: Stack, mails: list[Mail]) -> list[str] | None:
    texts = [replies_to(stack, mail.sender) for mail in mails]
    return [t for each in texts for t in each] if all(texts) else None


async def _stage_of(stack: Stack, thread_id: str) -> str | None:
    return (await stack.gateway.get(thread_id)).stage


def cli_env(stack: Stack, keys: str | None = None) -> dict[str, str]:
    s = stack.wiring.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(s.data_dir),
        "MAILROOM_TEMPORAL_ADDRESS": s.temporal_target,
        "MAILROOM_TASK_QUEUE": s.task_queue,
        "MAILROOM_QUEUE_PREFIX": f"{s.task_queue}-",
        "MAILROOM_MAILBOXES": ",".join(s.mailboxes),
    }
    return env | ({"MAILROOM_ENCRYPTION_KEYS": keys} if keys is not None else {})


async def test_the_cli_shows_encrypted_threads_and_says_in_one_line_when_its_key_is_wrong(
    stack: Stack, unique: str
) -> None:
    mail = question(unique)
    await stack.send(mail.raw, [mail.to], sender=mail.sender)
    await wait_for(lambda: _stage_of(stack, mail.thread_id), what="the thread's stage")

    code, out, err = await run_mailroom("threads", "--json", env=cli_env(stack))
    assert code == 0, err
    assert [t["subject"] for t in json.loads(out)] == [mail.secrets[0]]
    code, out, err = await run_mailroom("thread", mail.thread_id, env=cli_env(stack))
    assert code == 0 and mail.sender in out, err

    wrong = new_key_entry("other")
    code, out, err = await run_mailroom("thread", mail.thread_id, env=cli_env(stack, wrong))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "sealed with key 'k0'" in err
    assert "MAILROOM_ENCRYPTION_KEYS" in err


async def test_after_a_key_rotation_old_histories_still_read_and_new_payloads_use_the_new_key(
    dev_server: WorkflowEnvironment, data_dir: Path, task_queue: str, unique: str
) -> None:
    mail = question(unique)
    old = stack_settings(data_dir, dev_server.client, task_queue)
    async with running_stack(await connect(old), old) as before:
        await before.send(mail.raw, [mail.to], sender=mail.sender)
        await wait_for(lambda: _stage_of(before, mail.thread_id), what="the thread's stage")

    rotated_keys = f"{OLD_KEY},{new_key_entry('k1')}"
    rotated = stack_settings(data_dir, dev_server.client, task_queue, encryption_keys=rotated_keys)
    async with running_stack(await connect(rotated), rotated) as after:
        await after.send(follow_up(mail, unique, 1), [mail.to], sender=mail.sender)
        state = await wait_for(
            lambda: after.with_messages(mail.thread_id, 2), what="the follow-up in the thread"
        )
        assert state.subject == mail.secrets[0]  # the old key's payloads, read
        kept = await stored(after.gateway.client, mail.thread_id)
        assert b"encryption-key-id\x12\x02k1" in kept and b"encryption-key-id\x12\x02k0" in kept


async def test_a_worker_with_the_wrong_key_says_which_key_it_lacks(
    dev_server: WorkflowEnvironment, data_dir: Path, task_queue: str, unique: str
) -> None:
    mail = question(unique)
    right = stack_settings(data_dir, dev_server.client, task_queue)
    async with running_stack(await connect(right), right) as before:
        await before.send(mail.raw, [mail.to], sender=mail.sender)
        await wait_for(lambda: _stage_of(before, mail.thread_id), what="the thread's stage")

    wrong = stack_settings(
        data_dir, dev_server.client, task_queue, encryption_keys=new_key_entry("other")
    )
    with structlog.testing.capture_logs() as logged:
        async with running_stack(await connect(wrong), wrong) as after:
            await after.send(follow_up(mail, unique, 1), [mail.to], sender=mail.sender)
            said = await wait_for(
                lambda: _said(logged, "payload_not_decryptable"), what="the worker's error"
            )
    assert said["key_id"] == "k0" and said["keys"] == ["other"]
    assert "MAILROOM_ENCRYPTION_KEYS" in said["hint"]


async def _said(logged: list[MutableMapping[str, Any]], event: str) -> Any:
    return next((line for line in logged if line["event"] == event), None)
