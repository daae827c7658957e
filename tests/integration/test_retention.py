"""Retention on a real dev server and SMTP: the purge schedule a worker keeps at start, its
run (triggered with `mailroom schedule trigger`, nobody waits for 03:30), `mailroom purge`
and `--dry-run`, and the namespace retention set on the embedded server's namespace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from orchestrator.namespace_retention import keep_history_retention, namespace_retention
from orchestrator.purge import PURGE_SCHEDULE
from tests.integration.test_cli import cli_env
from tests.integration.test_up import mailroom_up, stop, up_env
from tests.stack import Stack, running_stack, stack_settings
from tests.support import run_mailroom, wait_for, with_attachment
from use_cases.models import CompleteRequest, ThreadStatus
from use_cases.ports import BlobNotFound

SUPPORT = "support@mailroom.local"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    """Retention 0 days: a thread's blobs go at the first purge after it completed."""
    settings = stack_settings(tmp_path / "data", dev_server.client, task_queue, retention_days=0)
    async with running_stack(dev_server.client, settings) as running:
        yield running


def mail_with(attachment: bytes, subject: str) -> bytes:
    head = (
        f"From: alice@example.com\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\nMIME-Version: 1.0\r\n"
    )
    return with_attachment(head, "the file, attached", attachment, "file.pdf")


async def kept(stack: Stack, data: bytes) -> bool:
    try:
        return await stack.wiring.blobs.get(stack.blob_address(data)) == data
    except BlobNotFound:
        return False


async def one_completed_one_open(stack: Stack, unique: str) -> tuple[bytes, bytes]:
    """Two threads, each with an attachment of its own; the first completed."""
    done, still_open = f"done {unique}".encode() * 50, f"open {unique}".encode() * 50
    await stack.send(mail_with(done, f"Invoice copy {unique}"), [SUPPORT])
    (first,) = await wait_for(lambda: stack.gateway.list(ThreadStatus.OPEN), what="thread")
    await stack.send(mail_with(still_open, f"Another question {unique}"), [SUPPORT])
    await wait_for(lambda: len_is(stack, 2), what="second thread")
    await stack.gateway.complete(first.workflow_id, CompleteRequest(reason="answered"))
    await wait_for(lambda: len_is(stack, 1), what="first thread completed")
    return done, still_open


async def len_is(stack: Stack, count: int) -> bool:
    return len(await stack.gateway.list(ThreadStatus.OPEN)) == count


async def test_the_purge_schedule_kept_at_start_removes_a_completed_threads_blobs(
    stack: Stack, dev_server: WorkflowEnvironment, unique: str
) -> None:
    name = f"{stack.wiring.settings.queue_prefix}{PURGE_SCHEDULE}"
    described = await dev_server.client.get_schedule_handle(name).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "PurgeWorkflow"
    assert action.task_queue == f"{stack.wiring.settings.queue_prefix}purge-queue"
    done, still_open = await one_completed_one_open(stack, unique)

    code, _out, err = await run_mailroom("schedule", "trigger", name, env=cli_env(stack))

    assert code == 0, err
    await wait_for(lambda: gone(stack, done), what="the completed thread's attachment removed")
    assert await kept(stack, still_open)


async def gone(stack: Stack, data: bytes) -> bool:
    return not await kept(stack, data)


async def test_mailroom_purge_says_what_it_would_remove_then_removes_it(
    stack: Stack, unique: str
) -> None:
    env = {**cli_env(stack), "MAILROOM_RETENTION_DAYS": "0"}
    done, still_open = await one_completed_one_open(stack, unique)

    code, dry, err = await run_mailroom("purge", "--dry-run", env=env)

    assert code == 0, err
    assert dry.startswith("would remove 2 blobs (") and "of 1 threads" in dry  # raw + file
    assert await kept(stack, done)
    code, out, err = await run_mailroom("purge", env=env)
    assert code == 0, err
    assert out == dry.replace("would remove", "removed")
    assert not await kept(stack, done)
    assert await kept(stack, still_open)


async def test_a_bad_retention_setting_is_one_line_and_exit_2(stack: Stack) -> None:
    env = {**cli_env(stack), "MAILROOM_RETENTION_DAYS": "-1"}
    code, _out, err = await run_mailroom("purge", env=env)
    assert code == 2
    assert "MAILROOM_RETENTION_DAYS" in err and len(err.strip().splitlines()) == 1


async def test_the_namespace_keeps_completed_histories_for_the_retention_days(
    dev_server: WorkflowEnvironment, unique: str
) -> None:
    namespace = f"retention-{unique}"
    await dev_server.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = await Client.connect(dev_server.client.service_client.config.target_host)
    await keep_history_retention(client, namespace, 30)
    assert await namespace_retention(client, namespace) == timedelta(days=30)
    await keep_history_retention(client, namespace, 0)  # Temporal's least: one day
    assert await namespace_retention(client, namespace) == timedelta(days=1)


@pytest.mark.slow
async def test_mailroom_up_sets_the_namespace_retention_and_keeps_the_purge_schedule(
    tmp_path: Path,
) -> None:
    env = up_env(tmp_path / "data", MAILROOM_RETENTION_DAYS="7")
    temporal_port = int(env["MAILROOM_TEMPORAL_PORT"])
    async with mailroom_up(env) as up:
        client = await Client.connect(f"127.0.0.1:{temporal_port}")
        assert await namespace_retention(client, "default") == timedelta(days=7)
        kept = await client.get_schedule_handle(PURGE_SCHEDULE).describe()
        assert not kept.schedule.state.paused
        assert await stop(up) == 0
