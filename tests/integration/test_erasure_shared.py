"""`mailroom erase` in a thread shared with others, on a real stack: the thread goes on for
the others, and no history Temporal keeps of it (every run of the thread and of its flows,
each payload decoded) holds the erased person's address or words — running with its
support flow inline or as a child, and completed (a later mail reopens it without them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.history_payloads import payloads_in
from adapters.outbound.payload_codec import ENCODING
from adapters.outbound.person_records import SqlitePersonRecords
from adapters.outbound.temporal_erasure import TemporalThreadErasure
from orchestrator.cli_erase import SHARED_NOTE
from orchestrator.purge import thread_blobs
from tests.conftest import FIXTURES
from tests.encryption import TEST_CONVERTER
from tests.integration.test_cli import cli_env
from tests.stack import Stack, running_stack, sent_text, stack_settings
from tests.support import run_mailroom, wait_for, with_attachment
from use_cases.models import CompleteRequest, ThreadStatus
from use_cases.ports import BlobNotFound
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
PROCUREMENT = "procurement@mailroom.local"
AT_REST = ("waiting_for_customer", "escalated")  # answered, or handed to a person


@pytest.fixture(params=["inline", "child"])
async def stack(
    request: pytest.FixtureRequest, dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    modes = f"procurement=child,support={request.param}"
    settings = stack_settings(  # its subject and requester searchable: those go too
        tmp_path,
        dev_server.client,
        task_queue,
        flow_modes=modes,
        search_attributes=True,
        searchable_subjects=True,
    )
    async with running_stack(dev_server.client, settings) as running:
        yield running


def mail(
    sender: str,
    subject: str,
    text: str,
    *,
    cc: str = "",
    message_id: str,
    reply_to: str = "",
    attached: bytes = b"",
) -> bytes:
    threading = f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n" if reply_to else ""
    copied = f"Cc: {cc}\r\n" if cc else ""
    head = f"From: {sender}\r\nTo: {SUPPORT}\r\n{copied}Subject: {subject}\r\n{threading}"
    head += f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
    if not attached:
        return f"{head}Content-Type: text/plain\r\n\r\n{text}\r\n".encode()
    return with_attachment(head, text, attached, "door.pdf")


class Shared:
    """Carol asks support with Alice copied, and Alice answers in the thread in words of
    her own and with a file (or, `alice_starts`, the other way round: the thread's subject
    and requester are then hers); the flow answers and waits for the customer. After the
    erasure Carol writes again, to us alone (mail that names Alice again would be new data
    about her)."""

    def __init__(self, stack: Stack, unique: str, *, alice_starts: bool = False) -> None:
        self.stack = stack
        self.alice, self.carol = f"alice-{unique}@example.com", f"carol-{unique}@example.com"
        self.alice_starts = alice_starts
        self.first_id = f"<first-{unique}@example.com>"
        self.alices_words = f"Alice adds that the blue door code is {unique} for visitors"
        self.alices_file = f"alice's floor plan {unique}".encode() * 40
        self.thread_id = workflow_id_for(SUPPORT, self.first_id)

    async def start(self) -> None:
        question = "My printer is on fire. What should I do?"
        hers = (self.alices_words, self.alices_file)
        theirs = [(self.carol, self.alice, question, b""), (self.alice, self.carol, *hers)]
        if self.alice_starts:
            theirs = [(self.alice, self.carol, *hers), (self.carol, self.alice, question, b"")]
        for count, (sender, copied, text, attached) in enumerate(theirs, start=1):
            first = count == 1
            raw = mail(
                sender,
                "Printer jammed" if first else "Re: Printer jammed",
                text,
                cc=copied,
                message_id=self.first_id if first else f"<{uuid.uuid4().hex}@example.com>",
                reply_to="" if first else self.first_id,
                attached=attached,
            )
            await self.stack.send(raw, [SUPPORT], sender)
            await wait_for(partial(self.at_rest, count), what=f"mail {count} taken")

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


@pytest.mark.parametrize("alice_starts", [False, True], ids=["carols", "alices"])
async def test_a_running_shared_thread_goes_on_without_the_erased_person(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str, alice_starts: bool
) -> None:
    shared = Shared(stack, unique, alice_starts=alice_starts)
    await shared.start()
    kept = await recorded(dev_server.client, shared.thread_id)
    assert shared.alice.encode() in kept and shared.alices_words.lower().encode() in kept

    report = await erase(stack, "--address", shared.alice)

    assert report["shared_threads"] == [shared.thread_id] and report["holding"] == []
    removed = report["removed"]
    assert isinstance(removed, dict)
    assert removed["temporal: earlier runs of shared threads deleted"] >= 1
    assert removed["blobs: their mail in shared threads removed"] == 2  # her mail, her file
    with pytest.raises(BlobNotFound):
        await stack.wiring.blobs.get(stack.blob_address(shared.alices_file))
    assert await thread_blobs(stack.wiring.threading.index).blobs_of([shared.thread_id])
    await wait_for(lambda: forgotten(dev_server.client, shared), what="no run names alice")
    state = await stack.gateway.get(shared.thread_id)
    assert state.status is ThreadStatus.OPEN and shared.carol in state.participants
    assert shared.alice not in json.dumps(state.model_dump(mode="json"))
    await shared.carol_again(3)
    await wait_for(lambda: shared.at_rest(3), what="carol's mail taken")
    assert await forgotten(dev_server.client, shared)


async def test_a_completed_shared_thread_she_began_is_written_again_without_her_and_reopens(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    shared = Shared(stack, unique, alice_starts=True)  # her subject, her address
    await shared.start()
    described = await dev_server.client.get_workflow_handle(shared.thread_id).describe()
    assert shared.alice in str(described.typed_search_attributes), "searchable: requester"
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
    assert reopened.reopened == 1 and reopened.subject == "(erased)"
    assert shared.carol in reopened.participants and shared.alice not in reopened.participants


async def _status(stack: Stack, thread_id: str, status: ThreadStatus) -> bool:
    return (await stack.gateway.get(thread_id)).status is status


@pytest.mark.parametrize("stack", ["child"], indirect=True)
async def test_a_flow_that_cannot_pause_holds_them_until_it_ends_and_is_said(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    """A purchase waiting for its approval cannot continue as new: erasure says its flow
    still holds the person; erased again once the purchase is decided, nothing does."""
    env = cli_env(stack)
    carol = f"carol-{unique}@corp.example"
    rfq = (FIXTURES / "rfq.eml").read_bytes().replace(b"<rfq-", f"<{unique}-".encode())
    rfq = rfq.replace(b"carol@corp.example", carol.encode())
    await stack.send(rfq, [PROCUREMENT], sender="bob@corp.example")
    thread_id = workflow_id_for(PROCUREMENT, f"<{unique}-20-laptops@corp.example>")
    await wait_for(lambda: _pending_approval(stack, thread_id), what="the approval wait")

    report = await erase(stack, "--address", carol)

    flow_id = (await stack.gateway.get(thread_id)).flow_workflow_id
    assert report["shared_threads"] == [thread_id] and report["holding"] == [flow_id]
    assert report["removed"]["thread index: shared threads they were dropped from"] == 0  # type: ignore[index]
    code, said, err = await run_mailroom("erase", "--address", carol, "--dry-run", env=env)
    assert code == 0, err
    assert said.endswith(f"{SHARED_NOTE}:\n    {thread_id}\n"), "still found: erasable again"
    code, _out, err = await run_mailroom("approve", thread_id, "--by", "dora", env=env)
    assert code == 0, err
    await wait_for(
        lambda: _status(stack, thread_id, ThreadStatus.COMPLETED), what="the purchase made"
    )

    again = await erase(stack, "--address", carol)

    assert again["holding"] == []
    await wait_for(
        lambda: _names_nobody(dev_server.client, thread_id, carol), what="no run names carol"
    )


async def _pending_approval(stack: Stack, thread_id: str) -> bool:
    return (await stack.gateway.get(thread_id)).pending_approval


async def _names_nobody(client: Client, thread_id: str, address: str) -> bool:
    return address.encode() not in await recorded(client, thread_id)


@pytest.mark.parametrize("stack", ["inline", "child"], indirect=True)
async def test_a_persons_reply_reaches_the_others_once_who_began_it_is_erased(
    stack: Stack, unique: str
) -> None:
    shared = Shared(stack, unique, alice_starts=True)
    await shared.start()
    await erase(stack, "--address", shared.alice)
    await wait_for(lambda: shared.at_rest(2), what="the thread at rest again")

    code, _out, err = await run_mailroom(
        "reply", shared.thread_id, "--body", f"Fixed {unique}", env=cli_env(stack)
    )

    assert code == 0, err
    sent = await wait_for(
        lambda: [
            e
            for e in stack.wiring.outbox.entries()
            if f"Fixed {unique}" in sent_text(stack, e.message_id)
        ],
        what="the reply sent",
    )
    assert [list(e.to) for e in sent] == [[shared.carol]]


@pytest.mark.parametrize("stack", ["inline"], indirect=True)
async def test_a_thread_temporal_no_longer_keeps_is_nothing_left_to_do(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    """Retention dropped the shared thread's history; the index still names her."""
    shared = Shared(stack, unique)
    await shared.start()
    await stack.gateway.complete(shared.thread_id, CompleteRequest(reason="done"))
    await wait_for(
        lambda: _status(stack, shared.thread_id, ThreadStatus.COMPLETED), what="completed"
    )
    erasure = TemporalThreadErasure(dev_server.client)
    await erasure.delete(await erasure.executions_of([shared.thread_id]))
    await wait_for(lambda: _gone(dev_server.client, shared.thread_id), what="history gone")

    report = await erase(stack, "--address", shared.alice)

    assert report["shared_threads"] == [shared.thread_id] and report["holding"] == []
    assert await SqlitePersonRecords(stack.wiring.settings.data_dir).threads_of(shared.alice) == []


async def _gone(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        return exc.status == RPCStatusCode.NOT_FOUND
    return False
