"""`mailroom status --json` against a real stack: a serving installation shows its pollers,
the thread a mail opened and no backlog (exit 0); without a worker the thread queue nobody
polls is marked, the mail waits in the backlog, and the command exits 1; the thread
terminated is the last error; a `mailroom up` reading a Dovecot folder is found from its
data directory alone, its IMAP source's last fetch shown."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import FIXTURES
from tests.dovecot import Dovecot
from tests.dovecot_config import PASSWORD
from tests.integration.test_up import mailroom_up
from tests.stack import Stack, running_stack, stack_settings
from tests.support import free_port, run_mailroom, wait_for

pytestmark = pytest.mark.slow

SUPPORT = "support@mailroom.local"


def status_env(stack: Stack, tmp_path: Path) -> dict[str, str]:
    s = stack.wiring.settings
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    return {
        **kept,
        "MAILROOM_DATA_DIR": str(tmp_path / "status"),
        "MAILROOM_TEMPORAL_ADDRESS": s.temporal_target,
        "MAILROOM_TEMPORAL_NAMESPACE": s.temporal_namespace,
        "MAILROOM_TASK_QUEUE": s.task_queue,
        "MAILROOM_QUEUE_PREFIX": s.queue_prefix,
        "MAILROOM_SMTP_PORT": str(s.smtp_port),
        "MAILROOM_SEARCH_ATTRIBUTES": "true",
    }


async def status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    code, out, err = await run_mailroom("status", "--json", env=env)
    assert err == "", err
    return code, json.loads(out)


def question(unique: str) -> bytes:
    raw = (FIXTURES / "support_question.eml").read_bytes()
    return raw.replace(b"<question-1@", f"<question-1-{unique}@".encode())


def queues_by_role(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {queue["role"]: queue for queue in report["queues"]}


async def test_status_shows_pollers_one_open_thread_and_no_backlog(
    stack: Stack, tmp_path: Path, unique: str
) -> None:
    await stack.send(question(unique), [SUPPORT])
    env = status_env(stack, tmp_path)

    async def settled() -> tuple[int, dict[str, Any]] | None:
        code, report = await status(env)  # pollers show once the workers have polled
        return (code, report) if report["ok"] and report["threads"]["open"] == 1 else None

    code, report = await wait_for(settled, timeout=30, what="status ok with one open thread")
    assert code == 0 and report["problems"] == []
    queues = queues_by_role(report)
    assert queues["threads"]["workflow_pollers"] > 0 and queues["threads"]["served"]
    assert queues["coordinator"]["served"] and queues["support"]["served"]
    assert report["smtp"]["listening"]
    assert report["backlog"]["waiting"] == 0 and not report["backlog"]["old"]
    assert report["last_error"] is None


async def test_status_marks_the_queue_no_worker_polls_and_exits_1(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, unique: str
) -> None:
    settings = stack_settings(tmp_path / "data", dev_server.client, task_queue)
    async with running_stack(dev_server.client, settings, worker=False) as stack:
        await stack.send(question(unique), [SUPPORT])  # handed to Temporal; nobody applies it
        env = status_env(stack, tmp_path)
        code, report = await status(env)
        assert code == 1 and not report["ok"]
        threads = queues_by_role(report)["threads"]
        assert not threads["served"] and threads["workflow_pollers"] == 0
        assert any(
            p.startswith("queue threads:") and "mailroom worker" in p for p in report["problems"]
        ), report["problems"]
        assert report["threads"]["open"] == 1

        code, out, _ = await run_mailroom("status", env=env)
        assert code == 1
        line = next(line for line in out.splitlines() if "queue threads" in line)
        assert line.startswith("fail") and task_queue in line

        (thread,) = [w async for w in dev_server.client.list_workflows(f'TaskQueue="{task_queue}"')]
        await dev_server.client.get_workflow_handle(thread.id).terminate(reason="stuck\x1b[2J mail")

        async def terminated() -> dict[str, Any] | None:
            _, report = await status(env)
            error: dict[str, Any] | None = report["last_error"]
            return error

        error = await wait_for(terminated, timeout=30, what="the terminated thread")
        assert (error["workflow_id"], error["status"]) == (thread.id, "TERMINATED")
        assert error["message"] == "stuck\x1b[2J mail"
        _, out, _ = await run_mailroom("status", env=env)
        line = next(line for line in out.splitlines() if "last error" in line)
        assert " terminated " in line and line.endswith(": stuck\\x1b[2J mail"), line
        assert "\x1b" not in out


async def test_status_finds_mailroom_up_and_its_imap_source_fetched(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    data_dir, temporal_port = tmp_path / "data", free_port()
    source = {"MAILROOM_IMAP_SOURCES": dovecot.url(mailbox=SUPPORT)}
    serving = {
        **kept,
        **source,
        "MAILROOM_DATA_DIR": str(data_dir),
        "MAILROOM_TEMPORAL_PORT": str(temporal_port),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_SMTP_PORT": str(free_port()),
    }
    other_terminal = {**kept, **source, "MAILROOM_DATA_DIR": str(data_dir)}
    async with mailroom_up(serving):

        async def all_ok() -> tuple[int, dict[str, Any]] | None:
            code, report = await status(other_terminal)
            return (code, report) if report["ok"] else None

        code, report = await wait_for(all_ok, timeout=60, what="status ok for mailroom up")
    assert code == 0 and report["temporal"]["address"] == f"127.0.0.1:{temporal_port}"
    (imap,) = report["imap"]
    assert imap["mailbox"] == SUPPORT and imap["last_fetch"] and not imap["late"]
    assert PASSWORD not in json.dumps(report)
    assert all(queue["served"] for queue in report["queues"])


async def test_status_without_temporal_or_namespace_fails_in_one_line_with_exit_2(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    base = {**kept, "MAILROOM_DATA_DIR": str(tmp_path / "status")}
    nobody = {**base, "MAILROOM_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    code, out, err = await run_mailroom("status", "--json", env=nobody)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert "cannot reach Temporal" in err

    target = dev_server.client.service_client.config.target_host
    elsewhere = {
        **base,
        "MAILROOM_TEMPORAL_ADDRESS": target,
        "MAILROOM_TEMPORAL_NAMESPACE": "no-such-namespace",
    }
    code, out, err = await run_mailroom("status", env=elsewhere)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert "namespace no-such-namespace does not exist" in err


async def test_status_in_a_namespace_without_the_stage_attribute_counts_threads_only(
    dev_server: WorkflowEnvironment, tmp_path: Path, unique: str
) -> None:
    """MAILROOM_SEARCH_ATTRIBUTES on, MailroomStage never registered in the namespace (the
    operator skipped `mailroom doctor`'s fix): the stage counts are said to be off, the rest
    is shown, nothing on stderr."""
    namespace = f"bare-{unique}"
    await dev_server.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env = {
        **kept,
        "MAILROOM_DATA_DIR": str(tmp_path / "status"),
        "MAILROOM_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "MAILROOM_TEMPORAL_NAMESPACE": namespace,
        "MAILROOM_SEARCH_ATTRIBUTES": "true",
    }

    async def described() -> tuple[int, dict[str, Any]] | None:
        code, out, err = await run_mailroom("status", "--json", env=env)
        if "does not exist" in err:  # the namespace is being made
            return None
        assert err == "", err
        return code, json.loads(out)

    code, report = await wait_for(described, timeout=30, what="status in the new namespace")
    bare = Client(dev_server.client.service_client, namespace=namespace)
    with pytest.raises(RPCError):  # the attribute is unknown there indeed
        await bare.count_workflows('MailroomStage = "escalated"')
    assert code == 1  # no worker serves it
    assert report["threads"] == {
        "open": 0,
        "escalated": None,
        "awaiting_approval": None,
        "needs_human": None,
    }
