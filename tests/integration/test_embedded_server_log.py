"""The embedded Temporal server's log joins mailroom's stream (one JSON object per line,
`logger: temporal.server`, at the server level mailroom's maps to) and its metrics sit on
a known port: a real `temporal server start-dev` started as `mailroom up` starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from orchestrator.server_log import relayed, server_level
from orchestrator.settings import Settings
from orchestrator.temporal_server import EmbeddedTemporal, ServerError, port_is_free
from tests.conftest import ROOT
from tests.support import free_port

# A process that starts and stops the embedded server as `mailroom up` does, and reads its
# metrics endpoint meanwhile.
SERVER_STARTED_AND_STOPPED = """
import asyncio, sys, urllib.request
from orchestrator.logs import configure_logging
from orchestrator.settings import Settings
from orchestrator.temporal_server import EmbeddedTemporal

async def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    server = EmbeddedTemporal(settings)
    await server.start()
    with urllib.request.urlopen(server.metrics_url, timeout=10) as answer:
        print(server.metrics_url, b"# TYPE" in answer.read())
    await server.stop()

asyncio.run(main())
"""


def run_server(tmp_path: Path, level: str, metrics_port: int) -> tuple[str, list[dict[str, Any]]]:
    env = {
        **os.environ,
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_METRICS_PORT": str(metrics_port),
        "MAILROOM_LOG_LEVEL": level,
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVER_STARTED_AND_STOPPED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout, [json.loads(line) for line in done.stderr.splitlines()]


def test_the_servers_lines_are_mailroom_json_lines_and_its_metrics_are_on_the_set_port(
    tmp_path: Path,
) -> None:
    port = free_port()
    stdout, lines = run_server(tmp_path, "debug", port)
    assert stdout.split() == [f"http://127.0.0.1:{port}/metrics", "True"]
    server_lines = [line for line in lines if line.get("logger") == "temporal.server"]
    assert server_lines, "no line of the server's in mailroom's log"
    assert {line["level"] for line in server_lines} <= {"debug", "info", "warning", "error"}
    assert all(line["event"] and "timestamp" in line for line in server_lines)
    started = [line for line in lines if line["event"] == "temporal_server_started"]
    assert started[0]["metrics"] == f"http://127.0.0.1:{port}/metrics"
    # ...and the file start-up errors point to has them too
    assert "Temporal Metrics" in (tmp_path / "data" / "temporal.log").read_text()


def test_at_info_the_servers_internal_info_lines_stay_out(tmp_path: Path) -> None:
    _, lines = run_server(tmp_path, "info", free_port())
    server_lines = [line for line in lines if line.get("logger") == "temporal.server"]
    assert all(line["level"] in {"warning", "error"} for line in server_lines)
    assert any(line["event"] == "temporal_server_started" for line in lines)


def test_a_server_line_keeps_its_fields_and_never_overrides_mailrooms() -> None:
    line = (
        b'{"time":"2026-12-05T10:59:12Z","level":"WARN","msg":"Failed to poll for task.",'
        b'"service":"worker","TaskQueue":"q","event":"x","logger":"y"}\n'
    )
    level, message, fields = relayed(line)
    assert (level, message) == ("warning", "Failed to poll for task.")
    assert fields == {
        "service": "worker",
        "TaskQueue": "q",
        "server_event": "x",
        "server_logger": "y",
    }
    assert relayed(b"Temporal CLI 1.9.1 (Server 1.32.0)\n") == (
        "warning",
        "Temporal CLI 1.9.1 (Server 1.32.0)",
        {},
    )
    assert relayed(b'{"level":"FATAL","msg":"boom"}')[0] == "error"
    lifecycle = b'{"level":"info","msg":"","component":"shard-engine","lifecycle":"Started"}'
    assert relayed(lifecycle)[1] == "shard-engine Started"


def test_the_server_logs_its_info_only_when_mailroom_debugs() -> None:
    assert [server_level(level) for level in ("debug", "info", "warning", "error")] == [
        "info",
        "warn",
        "warn",
        "error",
    ]


# A server that fails at start-up, its last words on stderr just after it has exited (a
# child of its still holds the pipe): what the error sends the operator to read.
DIES_AT_START = """
import os, sys, time
if os.fork() == 0:
    time.sleep(1)
    sys.stderr.write('{"level":"fatal","msg":"unable to open the database"}\\n')
    sys.exit(0)
sys.exit(3)
"""


class DyingServer(EmbeddedTemporal):
    def command(self) -> list[str]:
        return [sys.executable, "-c", DIES_AT_START]


async def test_a_server_that_dies_at_start_leaves_its_last_lines_in_the_log_it_points_to(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        temporal_metrics_port=free_port(),
    )
    server = DyingServer(settings)
    with capture_logs() as logs, pytest.raises(ServerError, match=r"temporal\.log"):
        await server.start()
    assert "unable to open the database" in server.log_path.read_text()
    assert any(entry["event"] == "unable to open the database" for entry in logs)
    assert port_is_free(settings.temporal_ui_port)  # its read-only gate closed with it
