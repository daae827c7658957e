"""Floods of idle connections against `mailroom smtp` run as the attack found it: under
`ulimit -n 1024` (soft = hard, so it cannot raise it), handing mail to a real Temporal dev
server. The flood is answered 421 and bounded, normal mail still gets 250 while it holds,
the listener keeps accepting after it, and the log stays small. A second case runs the
listener with no cap below the descriptor limit, so accept() itself fails: those failures
are logged once a second with a count, not a traceback each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bench.front_door import descriptors, flood, send_normal_mail, smtp_argv
from tests.encryption import give_test_key
from tests.support import free_port, wait_for

FLOOD = 1200
NOFILE = 1024
CAP = NOFILE - 256  # smtp_admission.connection_cap: 256 descriptors kept for the rest
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def started(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped by its pid (SIGTERM, then SIGKILL)."""
    with open(log, "wb") as out:
        child = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def events(log: Path, name: str) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if f'"{name}"' in line:
            with suppress(ValueError):
                found.append(json.loads(line))
    return found


async def served(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        return (await asyncio.wait_for(reader.readline(), 5)).startswith(b"220")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def accepted(port: int, n: int) -> bool:
    try:
        code, _ = await asyncio.to_thread(send_normal_mail, port, n)
    except smtplib.SMTPConnectError as exc:
        assert exc.smtp_code == 421
        return False
    return code == 250


@pytest.fixture
def smtp_env(dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> dict[str, str]:
    client = dev_server.client
    give_test_key(tmp_path / "data")  # what it hands off opens with the test's client's key
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_CONFIG": str(tmp_path / "none.toml"),
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "MAILROOM_TEMPORAL_NAMESPACE": client.namespace,
        "MAILROOM_TASK_QUEUE": task_queue,
        "MAILROOM_QUEUE_PREFIX": f"{task_queue}-",
        "MAILROOM_SMTP_PORT": str(free_port()),
        "MAILROOM_LOG_LEVEL": "info",
    }


async def test_idle_floods_are_bounded_and_normal_mail_still_gets_250(
    smtp_env: dict[str, str], tmp_path: Path
) -> None:
    port = int(smtp_env["MAILROOM_SMTP_PORT"])
    log = tmp_path / "smtp.log"
    with started(smtp_argv(NOFILE), smtp_env, log) as child:
        await wait_for(lambda: served(port), timeout=60, what="mailroom smtp listening")
        # the first mail opens what stays open (the Temporal connection, stores, parsers)
        assert (await asyncio.to_thread(send_normal_mail, port, 0))[0] == 250
        fds_before = descriptors(child.pid)

        # One host: its 50 places, the rest refused; another address still gets its 250.
        one_host = await flood(port, FLOOD, ["127.0.0.1"])
        assert one_host.answers == {"220": 50, "421": FLOOD - 50}
        code, _ = await asyncio.to_thread(send_normal_mail, port, 1)
        assert code == 250
        one_host.close()
        await wait_for(lambda: descriptors(child.pid) <= fds_before + 4, what="closes seen")

        # Many hosts: the cap, well below the descriptor limit, and no accept() failure; a
        # newcomer takes the place of a connection idle since its greeting.
        many = [f"127.0.0.{n}" for n in range(10, 50)]  # 30 each, under the per-client 50
        many_hosts = await flood(port, FLOOD, many)
        assert many_hosts.answers["220"] >= CAP and many_hosts.answers["none"] == 0
        # the cap, plus refused connections still closing, plus the rest of the process
        assert descriptors(child.pid) < NOFILE
        # a sender retrying a 421 gets in as soon as a flood connection has idled a second
        assert await wait_for(lambda: accepted(port, 2), what="a 250 during the flood")
        many_hosts.close()
        await wait_for(lambda: descriptors(child.pid) <= fds_before + 4, what="closes seen")
        assert await served(port)
        assert child.poll() is None

    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "out of system resource" not in text
    assert len(text) < 100_000, "the refusals are logged at most once a second each"
    assert len(events(log, "smtp_accepting_any_local_part")) == 1
    assert events(log, "smtp_accept_failed") == [], "the cap kept accept() from running out"


# A listener with no cap of its own below RLIMIT_NOFILE (64): accept() runs out of descriptors.
UNCAPPED = """
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_admission import Admission, AdmissionLimits, throttle_accept_errors
from adapters.inbound.smtp_listener import serve_smtp
from orchestrator.logs import configure_logging
from use_cases.mailboxes import Mailboxes

async def main() -> None:
    configure_logging("info")
    throttle_accept_errors(asyncio.get_running_loop())
    limits = AdmissionLimits(max_connections=10_000, max_per_client=10_000)
    handler = SmtpInboundHandler(Mailboxes(["mailroom.local"]), None)
    await serve_smtp(handler, host="127.0.0.1", port=int(sys.argv[1]), max_message_bytes=1024,
                     admission=Admission(limits))
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_accept_failures_are_logged_once_a_second_with_a_count(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "uncapped.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with started([sys.executable, "-c", UNCAPPED, str(port)], env, log) as child:
        await wait_for(lambda: served(port), timeout=30, what="the listener")
        loop = asyncio.get_running_loop()
        began = loop.time()
        held = await flood(port, 200, [f"127.0.0.{n}" for n in range(2, 10)])
        await wait_for(
            lambda: len(events(log, "smtp_accept_failed")) >= 3, what="accept failures logged"
        )
        failures = events(log, "smtp_accept_failed")
        assert len(failures) <= loop.time() - began + 2, "at most one line a second"
        assert sum(int(str(f["suppressed_since_last"])) for f in failures) > 0
        assert all(f["error"] == "EMFILE" for f in failures)
        held.close()
        await wait_for(lambda: served(port), what="accepting again once descriptors are free")
        assert child.poll() is None
    assert "Traceback" not in log.read_text(errors="replace")
