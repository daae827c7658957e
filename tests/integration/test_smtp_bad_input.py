"""Hostile and huge mail over real SMTP into a real Temporal dev server: each is ingested with
its defects recorded or refused with a 5xx, the adapter keeps serving, and no workflow task
fails because of message content."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.blob_store import FileBlobStore
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.models import ThreadState
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path, dev_server.client, task_queue, max_message_bytes=40 * 1024 * 1024
    )
    async with running_stack(dev_server.client, settings) as running:
        yield running


def thread_of(message_id: str) -> str:
    """Each hostile mail starts its own thread; the References one is keyed by its root."""
    root = message_id.replace("<refs-", "<r0-") if message_id.startswith("<refs-") else message_id
    return workflow_id_for(SUPPORT, root)


async def landed(stack: Stack, message_id: str) -> ThreadState | None:
    try:
        state = await stack.gateway.get(thread_of(message_id))
    except ThreadNotFound:
        return None
    return state if message_id in state.message_ids else None


def nested(depth: int, tag: str) -> bytes:
    inner = b"Subject: innermost\r\n\r\nbottom\r\n"
    for _ in range(depth):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return f"Message-ID: <nest-{tag}@x>\r\nFrom: a@b.example\r\n".encode() + inner


def hostile(tag: str) -> dict[str, bytes]:
    # folded (RFC 5322 §2.2.3): SMTP refuses lines over 1000 octets with a 500 anyway
    many = ",\r\n ".join(f"user{n}@example.com" for n in range(10_000))
    refs = "\r\n ".join(f"<r{n}-{tag}@x>" for n in range(5_000))
    nul = f"Message-ID: <nul-{tag}@x>\r\nSubject: a\x00b\r\n\r\nnul\x00body"
    bare = f"Message-ID: <lf-{tag}@x>\nFrom: a@b.example\n\nbare LF\rbare CR\n"
    eight_bit = f"Message-ID: <8bit-{tag}@x>\r\nSubject: caf\xe9 \xff\xfe\r\n\r\nx"
    return {
        f"<nul-{tag}@x>": nul.encode(),
        f"<lf-{tag}@x>": bare.encode(),
        f"<8bit-{tag}@x>": eight_bit.encode("latin-1"),
        f"<hdr-{tag}@x>": f"Message-ID: <hdr-{tag}@x>\r\nFrom: <<<@>>>\r\nDate: never".encode(),
        f"<rcpt-{tag}@x>": f"Message-ID: <rcpt-{tag}@x>\r\nTo: {many}\r\n\r\nhi".encode(),
        f"<refs-{tag}@x>": f"Message-ID: <refs-{tag}@x>\r\nReferences: <refs-{tag}@x> {refs}\r\n"
        f"In-Reply-To: <refs-{tag}@x>\r\n\r\ncycle".encode(),
        f"<nest-{tag}@x>": nested(100, tag),
        f"<mime-{tag}@x>": f"Message-ID: <mime-{tag}@x>\r\nContent-Type: multipart/mixed; "
        "boundary=\r\n\r\n--\r\n--\r\nContent-Type: text/plain; charset=utf-7\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n!!!\r\n".encode(),
    }


async def test_hostile_mail_is_ingested_with_defects_and_no_workflow_task_fails(
    stack: Stack, unique: str
) -> None:
    for message_id, raw in hostile(unique).items():
        assert await stack.send(raw, [SUPPORT]) == {}, message_id
    for message_id in hostile(unique):
        state = await wait_for(lambda m=message_id: landed(stack, m), what=message_id)  # type: ignore[misc]
        assert state.message_count == 1
    for message_id in hostile(unique):
        handle = stack.gateway.client.get_workflow_handle(thread_of(message_id))
        history = await handle.fetch_history()
        failed = [e for e in history.events if e.HasField("workflow_task_failed_event_attributes")]
        assert failed == [], message_id
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_empty_and_header_only_mail_are_accepted(stack: Stack, unique: str) -> None:
    assert await stack.send(b"", [SUPPORT]) == {}
    assert await stack.send(f"Message-ID: <ho-{unique}@x>\r\n".encode(), [SUPPORT]) == {}
    await wait_for(lambda: landed(stack, f"<ho-{unique}@x>"), what="header-only mail")


async def test_a_20_mb_attachment_reaches_its_thread_by_reference(
    stack: Stack, unique: str
) -> None:
    data = hashlib.sha256(unique.encode()).digest() * (20 * 1024 * 1024 // 32)
    raw = (
        (
            f"Message-ID: <big-{unique}@x>\r\nFrom: a@b.example\r\nTo: {SUPPORT}\r\n"
            "Subject: drawings\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            "Content-Type: text/plain\r\n\r\nsee attached\r\n--BB\r\n"
            "Content-Type: application/octet-stream\r\n"
            'Content-Disposition: attachment; filename="plans.bin"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        + b"\r\n--BB--\r\n"
    )
    assert await stack.send(raw, [SUPPORT]) == {}
    message_id = f"<big-{unique}@x>"
    await wait_for(lambda: landed(stack, message_id), what="the big mail", timeout=60)
    store = stack.wiring.blobs
    assert isinstance(store, FileBlobStore)
    digest = store.address_of(data)
    assert await store.get(digest) == data  # read back by its address
    handle = stack.gateway.client.get_workflow_handle(workflow_id_for(SUPPORT, message_id))
    history = await handle.fetch_history()
    assert len(history.to_json()) < 64 * 1024  # the 20 MB stayed in the blob store
    sealed = [
        payload
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
        for payload in event.workflow_execution_signaled_event_attributes.input.payloads
    ]
    codec = stack.gateway.client.data_converter.payload_codec
    signals = [p.data for p in (await codec.decode(sealed) if codec else sealed)]
    assert any(digest.encode() in data for data in signals)  # the thread holds the reference
