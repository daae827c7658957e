"""`mailroom up` that cannot start says why in one line naming the setting, exits 2 and
leaves no process behind: the checks run before the embedded server is started."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.temporal_server import port_is_free
from tests.support import free_port, run_mailroom

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    return {
        **kept,
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_SMTP_PORT": str(free_port()),
    }


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


async def fails_to_start(env: dict[str, str], setting: str) -> str:
    code, out, err = await run_mailroom("up", env=env)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"mailroom: {setting}: "), err
    assert port_is_free(int(env["MAILROOM_TEMPORAL_PORT"])), "no server left behind"
    server_log = Path(env["MAILROOM_DATA_DIR"]) / "temporal.log"
    assert not await asyncio.to_thread(server_log.exists), "the server was never started"
    return err


async def test_a_busy_smtp_port(env: dict[str, str], busy_port: int) -> None:
    env["MAILROOM_SMTP_PORT"] = str(busy_port)
    assert "in use" in await fails_to_start(env, "MAILROOM_SMTP_PORT")


async def test_an_unresolvable_listen_host(env: dict[str, str]) -> None:
    env["MAILROOM_SMTP_HOST"] = "no-such-host.invalid"
    assert "cannot resolve" in await fails_to_start(env, "MAILROOM_SMTP_HOST")


async def test_a_listen_address_of_another_machine(env: dict[str, str]) -> None:
    env["MAILROOM_SMTP_HOST"] = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never ours
    assert "not an address of this machine" in await fails_to_start(env, "MAILROOM_SMTP_HOST")


async def test_a_data_directory_that_is_a_file(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    assert "is a file" in await fails_to_start(env, "MAILROOM_DATA_DIR")


READ_ONLY = Path("/sys/kernel")  # sysfs: not writable, even by root


@pytest.mark.skipif(not READ_ONLY.is_dir(), reason="no /sys/kernel on this machine")
async def test_a_data_directory_that_cannot_be_written(env: dict[str, str]) -> None:
    read_only = READ_ONLY
    env["MAILROOM_DATA_DIR"] = str(read_only)
    assert "cannot write" in await fails_to_start(env, "MAILROOM_DATA_DIR")


async def test_a_missing_knowledge_base(env: dict[str, str], tmp_path: Path) -> None:
    env["MAILROOM_KB_FILE"] = str(tmp_path / "missing.toml")
    assert "cannot read" in await fails_to_start(env, "MAILROOM_KB_FILE")


async def test_a_knowledge_base_that_is_not_toml(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "kb.toml").write_text("[article\n")
    env["MAILROOM_KB_FILE"] = str(tmp_path / "kb.toml")
    assert "not a knowledge base" in await fails_to_start(env, "MAILROOM_KB_FILE")


async def test_a_busy_temporal_port(env: dict[str, str], busy_port: int) -> None:
    env["MAILROOM_TEMPORAL_PORT"] = str(busy_port)
    code, _, err = await run_mailroom("up", env=env)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "MAILROOM_TEMPORAL_PORT" in err
