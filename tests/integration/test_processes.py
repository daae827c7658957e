"""N processes per role as an operator runs them: `mailroom smtp --processes N` and
`mailroom up --workers N --smtp-processes N`, real processes on real sockets."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from orchestrator.temporal_server import port_is_free
from tests.integration.test_cli import cli_env
from tests.integration.test_up import stop
from tests.stack import Stack, send_mail
from tests.support import free_port, run_mailroom, wait_for

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT = 90


class Running:
    """A `mailroom` under test: the process, its announce lines, its JSON log lines."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, announced: str) -> None:
        self.process = process
        self.log = log
        self.announced = announced

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in parsed if entry.get("event") == name]

    def pids(self, event: str) -> set[int]:
        return {int(entry["pid"]) for entry in self.events(event)}


@asynccontextmanager
async def mailroom(env: dict[str, str], *args: str) -> AsyncIterator[Running]:
    """`mailroom ARGS` until it has announced its SMTP listener (killed if still running)."""
    log = Path(env["MAILROOM_DATA_DIR"]).parent / f"{args[0]}-{free_port()}.log"
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator.cli",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert process.stdout is not None
        announced = ""
        while "smtp " not in announced:
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
            assert line, f"mailroom exited early: {announced}{log.read_text()[-2000:]}"
            announced += line.decode()
        try:
            yield Running(process, log, announced)
        except AssertionError as failure:  # what the processes said, to see why
            raise AssertionError(f"{failure}\n--- its log:\n{log.read_text()[-4000:]}") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def question(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.com>\n"
        "To: support@mailroom.local\n"
        f"Subject: Question number {n}\n"
        f"Message-ID: <q{n}@example.com>\n"
        "Date: Sat, 05 Dec 2026 10:00:00 +0000\n\n"
        f"Hello, this is question {n}.\n"
    ).encode()


async def send_each_over_its_own_connection(port: int, numbers: range) -> None:
    async def one(n: int) -> None:
        refused = await asyncio.to_thread(
            send_mail, port, question(n), ["support@mailroom.local"], f"customer{n}@example.com"
        )
        assert refused == {}, refused

    for start in range(numbers.start, numbers.stop, 5):  # five connections at a time
        await asyncio.gather(*(one(n) for n in range(start, min(start + 5, numbers.stop))))


async def message_ids(env: dict[str, str]) -> list[str]:
    code, out, err = await run_mailroom("threads", "--json", env=env)
    assert code == 0, err
    return [m for thread in json.loads(out) for m in thread["message_ids"]]


def smtp_env(stack: Stack) -> dict[str, str]:
    return {**cli_env(stack), "MAILROOM_SMTP_PORT": str(free_port())}


async def test_two_smtp_processes_share_the_port_and_hand_off_every_mail_once(
    stack: Stack,
) -> None:
    env = smtp_env(stack)
    port = int(env["MAILROOM_SMTP_PORT"])
    async with mailroom(env, "smtp", "--processes", "2") as smtp:
        assert f"smtp       127.0.0.1:{port} accepting" in smtp.announced
        assert smtp.announced.count("smtp ") == 1 and "(2 processes)" in smtp.announced
        children = smtp.pids("process_started")
        assert len(children) == 2 and smtp.process.pid not in children

        await send_each_over_its_own_connection(port, range(30))
        wanted = sorted(f"<q{n}@example.com>" for n in range(30))
        handed = await wait_for(
            lambda: _sorted_when(message_ids(env), len(wanted)), what="30 threads", timeout=60
        )
        assert handed == wanted, "every mail in one thread, once"
        assert smtp.pids("email_accepted") == children, "both processes served connections"

        assert await stop(smtp.process) == 0
    assert port_is_free(port), "every process let go of the port"


async def _sorted_when(found: Any, count: int) -> list[str] | None:
    ids = sorted(await found)
    return ids if len(ids) >= count else None


async def test_a_killed_smtp_process_is_restarted_and_mail_keeps_flowing(stack: Stack) -> None:
    env = smtp_env(stack)
    port = int(env["MAILROOM_SMTP_PORT"])
    async with mailroom(env, "smtp", "--processes", "2") as smtp:
        first = smtp.pids("process_started")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        # At once: connections the kernel gives the dead process's socket wait in its queue
        # (the parent holds the socket) until the replacement takes them; none is refused.
        await send_each_over_its_own_connection(port, range(100, 130))
        await wait_for(
            lambda: _sorted_when(message_ids(env), 30), what="every mail handed off", timeout=60
        )
        (replacement,) = smtp.pids("process_restarted")
        assert replacement not in first
        served = smtp.pids("email_accepted")
        assert replacement in served and victim not in served
        assert await stop(smtp.process) == 0
    assert port_is_free(port)


async def test_two_worker_processes_serve_the_flows_asked_for_and_stop_on_sigterm(
    stack: Stack,
) -> None:
    env = cli_env(stack)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "orchestrator.cli", "worker", "--processes", "2", "--flows", "support"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        announced = [(await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)).decode()]
        announced.append((await asyncio.wait_for(process.stdout.readline(), 30)).decode())
        assert announced[0].startswith("worker     task queue ")
        assert announced[0].rstrip().endswith("(2 processes)")
        assert announced[1].startswith("flow       support on task queue "), announced
        assert await stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def bare_env(tmp_path: Path) -> dict[str, str]:
    """No Temporal at all: SMTP processes start anyway (they connect lazily)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_CONFIG": str(tmp_path / "no-such-mailroom.toml"),
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MAILROOM_SMTP_PORT": str(free_port()),
    }


async def test_an_smtp_process_that_keeps_crashing_once_it_serves_stops_mailroom_with_exit_1(
    tmp_path: Path,
) -> None:
    env = bare_env(tmp_path)
    async with mailroom(env, "smtp", "--processes", "2") as smtp:
        victim, killed = min(smtp.pids("process_started")), set()
        while True:  # the same slot, killed again as soon as it serves again
            await wait_for(functools.partial(serves, smtp, victim), what="it serves")
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
            await wait_for(
                lambda: (
                    smtp.process.returncode is not None or smtp.pids("process_restarted") - killed
                ),
                what="a restart or the end",
                timeout=30,
            )
            if smtp.process.returncode is not None:
                break
            (victim,) = smtp.pids("process_restarted") - killed
        assert len(killed) == 5, "given up at the fifth crash within a minute"
        assert await smtp.process.wait() == 1
        errors = [
            line for line in smtp.log.read_text().splitlines() if line.startswith("mailroom:")
        ]
        assert len(errors) == 1 and "crash-loops" in errors[0]
    assert port_is_free(int(env["MAILROOM_SMTP_PORT"]))


def serves(running: Running, pid: int) -> bool:
    return pid in running.pids("process_ready")


async def test_a_killed_supervisor_leaves_no_smtp_process_behind(tmp_path: Path) -> None:
    env = bare_env(tmp_path)
    port = int(env["MAILROOM_SMTP_PORT"])
    async with mailroom(env, "smtp", "--processes", "2") as smtp:
        children = smtp.pids("process_started")
        smtp.process.send_signal(signal.SIGKILL)
        await smtp.process.wait()
    await wait_for(lambda: not any(_alive(pid) for pid in children), what="the children to stop")
    assert port_is_free(port)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child already dead but not yet reaped by init is a zombie: gone for our purpose.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


@pytest.mark.parametrize(
    "args",
    [
        ("smtp", "--processes", "0"),
        ("smtp", "--processes", "65"),
        ("worker", "--processes", "two"),
        ("up", "--smtp-processes", "-1"),
        ("up", "--workers", "0"),
    ],
)
async def test_a_bad_process_count_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, out, err = await run_mailroom(*args, env=bare_env(tmp_path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "from 1 to 64" in err, err


async def test_mailroom_up_with_two_workers_and_two_smtp_processes_answers_mail(
    tmp_path: Path,
) -> None:
    smtp_port = free_port()
    env = {
        **bare_env(tmp_path),
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_SMTP_PORT": str(smtp_port),
        "MAILROOM_ACK_DELAY": "0",
    }
    del env["MAILROOM_TEMPORAL_ADDRESS"]  # the embedded server
    async with mailroom(env, "up", "--workers", "2", "--smtp-processes", "2") as up:
        assert "(2 processes)" in up.announced.split("smtp ")[1], "SMTP said once, with the count"
        assert up.announced.count("worker ") == 1 and up.announced.count("smtp ") == 1
        await asyncio.to_thread(
            send_mail, smtp_port, question(1), ["support@mailroom.local"], "customer1@example.com"
        )
        answered = await wait_for(lambda: _acknowledged(env), what="the answer", timeout=60)
        assert answered[0]["to"] == ["customer1@example.com"]
        assert await stop_as_systemd_does(up) == 0
        assert len(up.pids("process_started")) == 4 and not up.events("process_restarted")
    assert port_is_free(smtp_port)


async def stop_as_systemd_does(running: Running) -> int:
    """KillMode=control-group: SIGTERM to the parent and every child at once."""
    for pid in (running.process.pid, *running.pids("process_started")):
        os.kill(pid, signal.SIGTERM)
    return await asyncio.wait_for(running.process.wait(), 60)


async def _acknowledged(env: dict[str, str]) -> list[dict[str, Any]] | None:
    code, out, _ = await run_mailroom("outbox", "--json", env=env)
    sent = [e for e in json.loads(out) if e["message_id"].startswith("<ack-")] if code == 0 else []
    return sent or None
