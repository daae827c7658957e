"""`mailroom up` that cannot start says why in one line naming the setting, exits 2 and
leaves no process behind: the checks run before the embedded server is started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal_server import port_is_free, temporal_cli
from tests.support import free_port, run_mailroom, wait_for
from workflows.search_attributes import FLOW_ATTRIBUTE, STAGE_ATTRIBUTE, THREAD_ATTRIBUTES

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


async def test_a_misspelled_variable(env: dict[str, str]) -> None:
    env["MAILROOM_SMTP_PROT"] = env.pop("MAILROOM_SMTP_PORT")
    err = await fails_to_start(env, "MAILROOM_SMTP_PROT")
    assert "did you mean MAILROOM_SMTP_PORT?" in err


async def test_a_weak_reply_token_secret(env: dict[str, str]) -> None:
    env["MAILROOM_REPLY_TOKEN_SECRET"] = "short-secret"
    err = await fails_to_start(env, "MAILROOM_REPLY_TOKEN_SECRET")
    assert "at least 32 bytes" in err and "short-secret" not in err


async def test_a_negative_duration(env: dict[str, str]) -> None:
    env["MAILROOM_SUBJECT_WINDOW"] = "-PT1H"
    assert "positive duration" in await fails_to_start(env, "MAILROOM_SUBJECT_WINDOW")


@pytest.fixture(scope="module")
async def cluster_with_the_old_attributes() -> AsyncIterator[str]:
    """A Temporal server standing for a cluster registered for an earlier mailroom: flow
    and stage, not the attributes threads set since."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        port=free_port(),
        ui=False,
        search_attributes=[FLOW_ATTRIBUTE, STAGE_ATTRIBUTE],
    )
    target = env.client.service_client.config.target_host
    # Served to a new client, as the worker will connect: start_local returns once its own
    # client connected, and a worker started at once failed to reach it (1 of 4 suite runs)
    await wait_for(lambda: _answers(target), what="the server answering a new client")
    yield target
    await env.shutdown()


async def _answers(target: str) -> bool:
    client = await Client.connect(target)
    request = ListSearchAttributesRequest(namespace="default")
    return bool(await client.operator_service.list_search_attributes(request))


async def test_a_namespace_without_the_thread_search_attributes(
    env: dict[str, str], cluster_with_the_old_attributes: str
) -> None:
    """Its worker would fail every workflow task of every thread (an upsert of an unknown
    attribute): it refuses to start and says how to register them, or to turn them off."""
    env["MAILROOM_TEMPORAL_ADDRESS"] = cluster_with_the_old_attributes
    env["MAILROOM_SEARCH_ATTRIBUTES"] = "true"
    code, out, err = await run_mailroom("worker", env=env)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("mailroom: MAILROOM_SEARCH_ATTRIBUTES: namespace default lacks "), err
    assert "MailroomSubject (Text), MailroomRequester (Keyword), MailroomReference" in err
    assert "MailroomFlow" not in err and "MailroomStage" not in err, "those are registered"
    assert (
        "`temporal operator search-attribute create --namespace default "
        "--name MailroomRequester --name MailroomReference --type Keyword`"
    ) in err
    assert err.rstrip().endswith("or set MAILROOM_SEARCH_ATTRIBUTES=false"), err


async def serving_process(
    env: dict[str, str], command: str, announced: str
) -> tuple[asyncio.subprocess.Process, int, asyncio.Task[list[str]]]:
    """`mailroom COMMAND` once it announced `announced`, the pid of its embedded Temporal
    server (from its start-up log line), and a task that ends with its stderr lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []
    stdout, stderr = process.stdout, process.stderr

    async def collect() -> list[str]:
        async for line in stderr:
            errors.append(line.decode())
        return errors

    collector = asyncio.create_task(collect())
    out = ""
    while announced not in out:
        line = await asyncio.wait_for(stdout.readline(), STARTUP_TIMEOUT)
        assert line, f"mailroom {command} exited early: {out} {''.join(errors)}"
        out += line.decode()
    started = [json.loads(e) for e in errors if '"temporal_server_started"' in e]
    assert started, errors
    return process, int(started[0]["pid"]), collector


STARTUP_TIMEOUT = 60


@pytest.mark.parametrize(("command", "announced"), [("server", "temporal"), ("up", "smtp")])
async def test_a_killed_temporal_server_stops_mailroom_with_one_line(
    env: dict[str, str], command: str, announced: str
) -> None:
    """A supervisor restarts what exits: mailroom must not run on without its server."""
    process, server_pid, collector = await serving_process(env, command, announced)
    try:
        os.kill(server_pid, signal.SIGKILL)  # the server this test's mailroom started
        code = await asyncio.wait_for(process.wait(), STARTUP_TIMEOUT)
        errors = await asyncio.wait_for(collector, STARTUP_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    said = [line for line in errors if line.startswith("mailroom:")]
    assert code == 2, errors
    assert len(said) == 1 and "Traceback" not in "".join(errors), errors
    assert said[0].startswith(
        f"mailroom: the embedded Temporal server (pid {server_pid}) was killed by signal 9"
    ), said
    assert port_is_free(int(env["MAILROOM_SMTP_PORT"])), "nothing left listening"
    assert not (Path(env["MAILROOM_DATA_DIR"]) / "instance.json").exists(), "record removed"


async def test_an_embedded_database_of_an_earlier_mailroom_gets_the_new_search_attributes(
    env: dict[str, str],
) -> None:
    """The embedded server registers its `--search-attribute`s only when it creates its
    database: `mailroom up` on one made by an earlier mailroom (flow and stage only) adds
    the others instead of refusing to start."""
    data, port = Path(env["MAILROOM_DATA_DIR"]), env["MAILROOM_TEMPORAL_PORT"]
    await asyncio.to_thread(data.mkdir, mode=0o700)
    earlier = await asyncio.create_subprocess_exec(
        *(str(temporal_cli()), "server", "start-dev", "--headless", "--ip", "127.0.0.1"),
        *("--port", port, "--db-filename", str(data / "temporal.db")),
        *(
            "--search-attribute",
            "MailroomFlow=Keyword",
            "--search-attribute",
            "MailroomStage=Keyword",
        ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for(lambda: Client.connect(f"127.0.0.1:{port}"), what="the earlier server")
    finally:
        earlier.terminate()
        await earlier.wait()
    process, _, collector = await serving_process(env, "up", "smtp")
    try:
        client = await Client.connect(f"127.0.0.1:{port}")
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {key.name for key in THREAD_ATTRIBUTES} <= set(listed.custom_attributes)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), STARTUP_TIMEOUT)
        await asyncio.wait_for(collector, STARTUP_TIMEOUT)


def open_to_others(data: Path) -> list[str]:
    """`data` and whatever in it others may read or enter, with their modes."""
    return [
        f"{path} {oct(stat.S_IMODE(path.stat().st_mode))}"
        for path in [data, *data.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]


async def test_the_data_dir_and_its_files_are_private(env: dict[str, str]) -> None:
    process, _, collector = await serving_process(env, "up", "smtp")
    try:
        data = Path(env["MAILROOM_DATA_DIR"])
        await wait_for(lambda: (data / "instance.json").exists(), what="the instance record")
        opened = await asyncio.to_thread(open_to_others, data)
        assert opened == [], "the data dir and everything in it is the operator's alone"
        found = await asyncio.to_thread(lambda: {p.name for p in data.iterdir()})
        assert {"temporal.db", "reply-token.key", "instance.json"} <= found
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), STARTUP_TIMEOUT)
        await asyncio.wait_for(collector, STARTUP_TIMEOUT)
