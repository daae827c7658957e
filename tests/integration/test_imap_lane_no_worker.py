"""`mailroom imap` with MAILROOM_IMAP_EXCLUSIVE (the default) and no worker serving the
coordinator: it says why it waits, and stops when told (issue 18's walkthrough: SIGTERM used
to hang it for good, temporalio turning the cancelled update into an error the lane swallowed).
A real Dovecot and a real Temporal dev server with no worker at all."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.dovecot import Dovecot
from tests.integration.imap_support import MAILBOX, cli_env, daemon_process
from tests.stack import stack_settings
from tests.support import wait_for


async def test_a_daemon_without_a_worker_says_why_it_waits_and_stops_when_told(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    settings = stack_settings(tmp_path, dev_server.client, task_queue)
    env = cli_env(settings.temporal_target, task_queue, tmp_path, dovecot.url(mailbox=MAILBOX))
    log = tmp_path / "daemon.log"
    daemon = daemon_process(env, log)
    try:
        standby = await wait_for(
            lambda: _standby_reason(log), timeout=30, what="the daemon saying it waits"
        )
        assert "mailroom worker" in standby and "MAILROOM_IMAP_EXCLUSIVE=false" in standby
        # the next ask is in flight: unanswered, each takes its whole timeout (lease/3)
        daemon.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(daemon.wait, 20)
    finally:
        _kill(daemon)
    assert returncode == 0
    assert "Traceback" not in log.read_text()


def _standby_reason(log: Path) -> str | None:
    found = [e for e in _events(log) if e.get("event") == "imap_lane_standby"]
    return str(found[0].get("reason", "")) if found else None


def _events(log: Path) -> list[dict[str, object]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def _kill(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait(10)
