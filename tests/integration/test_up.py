"""`mailroom up` as an operator runs it: a real process tree, stopped by SIGTERM, restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from orchestrator.temporal_server import port_is_free
from tests.conftest import FIXTURES
from tests.stack import send_mail
from tests.support import free_port, run_mailroom, wait_for

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT = 60


def up_env(data_dir: Path, **variables: str) -> dict[str, str]:
    """`mailroom up`'s environment: this one's without MAILROOM_*, the data directory, free
    ports for the embedded server, its Web UI and SMTP; `variables` (MAILROOM_…) on top."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(data_dir),
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_SMTP_PORT": str(free_port()),
        **variables,
    }


@asynccontextmanager
async def mailroom_up(
    env: dict[str, str], *options: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`mailroom up OPTIONS`, once it announces its SMTP adapter; killed if still running."""
    errors = Path(env["MAILROOM_DATA_DIR"]).parent / "up.stderr"
    with errors.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator.cli",
            "up",
            *options,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert process.stdout is not None
        announced = ""
        while "smtp" not in announced:
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
            assert line, f"mailroom up exited early: {announced}{errors.read_text()[-2000:]}"
            announced += line.decode()
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


async def threads(env: dict[str, str]) -> list[dict[str, object]]:
    code, out, err = await run_mailroom("threads", "--json", env=env)
    assert code == 0, err
    return list(json.loads(out))


async def test_threads_survive_a_restart_of_mailroom_up(tmp_path: Path) -> None:
    temporal_port, smtp_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_PORT": str(temporal_port),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_SMTP_PORT": str(smtp_port),
        "MAILROOM_ACK_DELAY": "0",  # the outbox below counts acknowledgements
    }
    question = (FIXTURES / "support_question.eml").read_bytes()
    async with mailroom_up(env) as first:
        await asyncio.to_thread(
            send_mail, smtp_port, question, ["support@mailroom.local"], "alice@example.com"
        )
        before = await wait_for(lambda: threads(env), what="the thread", timeout=30)
        await wait_for(lambda: _outbox(env, 1), what="the ack", timeout=30)
        assert await stop(first) == 0
    assert port_is_free(temporal_port) and port_is_free(smtp_port), "everything stopped"
    left = sorted(p.name for p in (tmp_path / "data").glob("*.sqlite-*"))
    assert left == [], "every store closed cleanly, its WAL checkpointed"
    assert (tmp_path / "data" / "temporal.db").exists()

    async with mailroom_up(env) as second:
        after = await threads(env)
        assert [t["thread_id"] for t in after] == [t["thread_id"] for t in before]
        assert after[0]["status"] == "open"
        reply = (FIXTURES / "support_reply.eml").read_bytes()
        await asyncio.to_thread(
            send_mail, smtp_port, reply, ["support@mailroom.local"], "alice@example.com"
        )
        joined = await wait_for(lambda: _with_messages(env, 2), what="the reply", timeout=30)
        assert len(joined) == 1
        assert len(await _outbox(env, 1) or []) == 1, "the restart sent no second acknowledgement"
        found = await wait_for(
            lambda: _listed(temporal_port, "MailroomFlow = 'support'"), what="search attributes"
        )
        assert found == [after[0]["thread_id"]], "the Web UI can filter threads by flow"
        assert await stop(second) == 0


async def _outbox(env: dict[str, str], count: int) -> list[object] | None:
    code, out, _ = await run_mailroom("outbox", "--json", env=env)
    entries = (
        [e for e in json.loads(out) if e["message_id"].startswith("<ack-")] if code == 0 else []
    )
    return list(entries) if len(entries) >= count else None


async def _with_messages(env: dict[str, str], count: int) -> list[dict[str, object]] | None:
    listed = await threads(env)
    return listed if listed and len(listed[0]["message_ids"]) >= count else None  # type: ignore[arg-type]


async def _listed(port: int, query: str) -> list[str] | None:
    client = await Client.connect(f"127.0.0.1:{port}")
    ids = [
        w.id async for w in client.list_workflows(f"WorkflowType = 'ThreadWorkflow' AND {query}")
    ]
    return ids or None


async def test_a_killed_mailroom_up_leaves_no_server_behind(tmp_path: Path) -> None:
    env = up_env(tmp_path / "data")
    temporal_port = int(env["MAILROOM_TEMPORAL_PORT"])
    async with mailroom_up(env) as process:
        assert not port_is_free(temporal_port)
        process.send_signal(signal.SIGKILL)  # no chance to stop its server itself
        await process.wait()
    # the server was started with PR_SET_PDEATHSIG: it is told to stop when mailroom dies
    await wait_for(lambda: port_is_free(temporal_port), what="the orphan server to stop")
