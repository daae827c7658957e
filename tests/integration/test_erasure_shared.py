"""`mailroom erase` in a thread shared with others, on a real stack: the thread goes on for
the others, and no history Temporal keeps of it (every run of the thread and of its flows,
each payload decoded) holds the erased person's address or words — running with its
support flow inline or as a child, and completed (a later mail reopens it without them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.payload_codec import ENCODING
from tests.encryption import TEST_CONVERTER
from tests.integration.test_cli import cli_env
from tests.integration.test_codec_server import payloads_in
from tests.stack import Stack, running_stack, stack_settings
from tests.support import run_mailroom, wait_for
from use_cases.models import CompleteRequest, ThreadStatus
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
AT_REST = ("waiting_for_customer", "escalated")  # answered, or handed to a person


@pytest.fixture(params=["inline", "child"])
async def stack(
    request: pytest.FixtureRequest, dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    modes = f"procurement=child,support={request.param}"
    settings = stack_settings(tmp_path, dev_server.client, task_queue, flow_modes=modes)
    async with running_stack(dev_server.client, settings) as running:
        yield running


def mail(
    sender: str, subject: str, text: str, *, cc: str = "", message_id: str, reply_to: str = ""
) -> bytes:
    threading = f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n" if reply_to else ""
    copied = f"Cc: {cc}\r\n" if cc else ""
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\n{copied}Subject: {subject}\r\n{threading}"
        f"Message-ID: {message_id}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
    ).encode()


class Shared:
    """Carol asks support with Alice copied; Alice answers in the thread in words of her
    own; the flow answers and waits for the customer. After the erasure Carol writes
    again, to us alone (mail that names Alice again would be new data about her)."""

    def __init__(self, stack: Stack, unique: str) -> None:
        self.stack = stack
        self.alice, self.carol = f"alice-{unique}@example.com", f"carol-{unique}@example.com"
        self.first_id = f"<first-{unique}@example.com>"
        self.alices_words = f"Alice adds that the blue door code is {unique} for visitors"
        self.thread_id = workflow_id_for(SUPPORT, self.first_id)

    async def start(self) -> None:
        first = mail(
            self.carol,
            "Printer jammed",
            "My printer is on fire. What should I do?",
            cc=self.alice,
            message_id=self.first_id,
        )
        await self.stack.send(first, [SUPPORT], self.carol)
        await wait_for(lambda: self.at_rest(1), what="carol's question answered")
        reply = mail(
            self.alice,
            "Re: Printer jammed",
            self.alices_words,
            cc=self.carol,
            message_id=f"<alice-{uuid.uuid4().hex}@example.com>",
            reply_to=self.first_id,
        )
        await self.stack.send(reply, [SUPPORT], self.alice)
        await wait_for(lambda: self.at_rest(2), what="alice's words in the thread")

    async def at_rest(self, messages: int) -> bool:
        state = await self.stack.gateway.get(self.thread_id)
        return state.message_count >= messages and state.stage in AT_REST

    async def carol_again(self, count: int) -> None:
        again = mail(
            self.carol,
            "Re: Printer jammed",
            "It is still on fire. What should I do?",
            message_id=f"<again-{uuid.uuid4().hex}@example.com>",
            reply_to=self.first_id,
        )
        await self.stack.send(again, [SUPPORT], self.carol)
        await wait_for(lambda: self.stack.with_messages(self.thread_id, count), what="carol again")


async def erase(stack: Stack, *args: str) -> dict[str, object]:
    code, out, err = await run_mailroom("erase", *args, "--json", env=cli_env(stack))
    assert code == 0, err
    report: dict[str, object] = json.loads(out)
    return report


async def recorded(client: Client, thread_id: str) -> bytes:
    """Everything Temporal keeps of the thread and its flows, every payload decoded, and
    the search attributes of every run it lists."""
    kept = b""
    query = f"WorkflowId = '{thread_id}' OR RootWorkflowId = '{thread_id}'"
    async for execution in client.list_workflows(query):
        kept += str(execution.typed_search_attributes).encode()
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            history = await handle.fetch_history()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # deleted since it was listed
                raise
            continue
        for event in history.events:
            for payload in payloads_in(event):
                kept += b"\n" + await decoded(payload)
    return kept.lower()


async def decoded(payload: Payload) -> bytes:
    if payload.metadata.get("encoding") != ENCODING:
        return payload.data  # search attributes: the server indexes them in clear
    codec = TEST_CONVERTER.payload_codec
    assert codec is not None
    return b"".join(p.data for p in await codec.decode([payload]))


async def forgotten(client: Client, shared: Shared) -> bool:
    kept = await recorded(client, shared.thread_id)
    return shared.alice.encode() not in kept and shared.alices_words.lower().encode() not in kept


async def test_a_running_shared_thread_goes_on_without_the_erased_person(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    shared = Shared(stack, unique)
    await shared.start()
    kept = await recorded(dev_server.client, shared.thread_id)
    assert shared.alice.encode() in kept and shared.alices_words.lower().encode() in kept

    report = await erase(stack, "--address", shared.alice)

    assert report["shared_threads"] == [shared.thread_id] and report["holding"] == []
    assert report["removed"]["temporal: earlier runs of shared threads deleted"] >= 1  # type: ignore[index]
    await wait_for(lambda: forgotten(dev_server.client, shared), what="no run names alice")
    state = await stack.gateway.get(shared.thread_id)
    assert state.status is ThreadStatus.OPEN and shared.carol in state.participants
    assert shared.alice not in json.dumps(state.model_dump(mode="json"))
    await shared.carol_again(3)
    await wait_for(lambda: shared.at_rest(3), what="carol's mail taken")
    assert await forgotten(dev_server.client, shared)


async def test_a_completed_shared_thread_is_written_again_without_them_and_reopens(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    shared = Shared(stack, unique)
    await shared.start()
    await stack.gateway.complete(shared.thread_id, CompleteRequest(reason="done"))
    await wait_for(
        lambda: _status(stack, shared.thread_id, ThreadStatus.COMPLETED), what="completed"
    )

    report = await erase(stack, "--address", shared.alice)

    assert report["shared_threads"] == [shared.thread_id] and report["holding"] == []
    await wait_for(lambda: forgotten(dev_server.client, shared), what="no run names alice")
    state = await stack.gateway.get(shared.thread_id)
    assert state.status is ThreadStatus.COMPLETED and state.reopened == 0
    await shared.carol_again(3)
    reopened = await stack.gateway.get(shared.thread_id)
    assert reopened.reopened == 1 and reopened.subject == "Printer jammed"
    assert shared.carol in reopened.participants and shared.alice not in reopened.participants


async def _status(stack: Stack, thread_id: str, status: ThreadStatus) -> bool:
    return (await stack.gateway.get(thread_id)).status is status
