"""A second terminal finds the running service through the data directory alone: `mailroom
up` on ports of its own, then commands that are told nothing but MAILROOM_DATA_DIR."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.integration.test_up import mailroom_up, stop
from tests.support import free_port, run_mailroom, wait_for

pytestmark = pytest.mark.slow


def bare_env(data_dir: Path, **extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    return {**kept, "MAILROOM_DATA_DIR": str(data_dir), **extra}


async def test_commands_find_the_instance_recorded_in_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    temporal_port, smtp_port = free_port(), free_port()
    serving = bare_env(
        data_dir,
        MAILROOM_TEMPORAL_PORT=str(temporal_port),
        MAILROOM_TEMPORAL_UI_PORT=str(free_port()),
        MAILROOM_SMTP_PORT=str(smtp_port),
    )
    other_terminal = bare_env(data_dir)
    async with mailroom_up(serving) as process:
        recorded = await wait_for(lambda: _recorded(data_dir), what="the record")
        assert recorded["temporal_address"] == f"127.0.0.1:{temporal_port}"
        assert recorded["smtp"] == f"127.0.0.1:{smtp_port}"

        code, out, err = await run_mailroom(
            "send", str(FIXTURES / "support_question.eml"), env=other_terminal
        )
        assert code == 0, err
        listed = await wait_for(lambda: _threads(other_terminal), what="the thread", timeout=30)
        assert len(listed) == 1

        code, _, err = await run_mailroom("--verbose", "threads", env=other_terminal)
        assert code == 0 and f"127.0.0.1:{temporal_port}" in err and "instance.json" in err
        code, out, _ = await run_mailroom("config", env=other_terminal)
        assert f"SMTP 127.0.0.1:{smtp_port}" in out.splitlines()[-1]

        code, _, err = await run_mailroom("up", env=serving)
        assert code == 2 and "already runs" in err and len(err.splitlines()) == 1

        explicit = {**other_terminal, "MAILROOM_TEMPORAL_PORT": str(free_port())}
        code, _, err = await run_mailroom("threads", env=explicit)
        assert code == 2, "an explicit setting wins over the record"
        assert await stop(process) == 0

    assert not (data_dir / "instance.json").exists(), "a stopped instance is forgotten"
    code, _, err = await run_mailroom("--verbose", "threads", env=other_terminal)
    assert code == 2 and "no running instance recorded" in err


async def test_a_record_left_by_a_killed_instance_is_ignored(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    gone = {
        "pid": 2**22 + 1,  # above Linux's pid_max: no such process
        "started_at": "2026-01-01T00:00:00Z",
        "temporal_address": "127.0.0.1:1",
        "embedded": True,
        "namespace": "default",
        "tls": False,
        "web_ui": None,
        "smtp": "127.0.0.1:1",
        "task_queue": "mailroom-threads",
    }
    (data_dir / "instance.json").write_text(json.dumps(gone))
    code, out, _ = await run_mailroom("config", env=bare_env(data_dir))
    assert code == 0 and "no running instance recorded" in out.splitlines()[-1]


async def _threads(env: dict[str, str]) -> list[object] | None:
    code, out, _ = await run_mailroom("threads", "--json", env=env)
    return list(json.loads(out)) or None if code == 0 else None


async def _recorded(data_dir: Path) -> dict[str, object] | None:
    path = data_dir / "instance.json"
    exists = await asyncio.to_thread(path.exists)
    return dict(json.loads(await asyncio.to_thread(path.read_text))) if exists else None
