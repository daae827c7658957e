"""Each child of a process group serves its own metrics (issue 21): `mailroom smtp
--processes 2` with MAILROOM_METRICS_ADDRESS at port P has its children at P+1 and P+2, each
logging `metrics_serving` with its address, each scrape holding that process's metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from functools import partial
from pathlib import Path

import pytest

from orchestrator.temporal_server import port_is_free
from tests.integration.test_processes import bare_env, mailroom
from tests.integration.test_up import stop
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow


def three_free_ports() -> int:
    """P such that P, P+1 and P+2 are free."""
    while True:
        port = free_port()
        if port + 2 < 65536 and port_is_free(port + 1) and port_is_free(port + 2):
            return port


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


async def test_each_smtp_process_serves_its_metrics_on_the_port_plus_its_number(
    tmp_path: Path,
) -> None:
    port = three_free_ports()
    env = {**bare_env(tmp_path), "MAILROOM_METRICS_ADDRESS": f"127.0.0.1:{port}"}
    async with mailroom(env, "smtp", "--processes", "2") as smtp:
        children = smtp.pids("process_started")
        serving = {entry["address"]: entry["pid"] for entry in smtp.events("metrics_serving")}
        assert serving.keys() == {f"127.0.0.1:{port + 1}", f"127.0.0.1:{port + 2}"}
        assert set(serving.values()) == children, "one port per child"
        for child_port in (port + 1, port + 2):
            scraped = await wait_for(partial(asyncio.to_thread, scrape, child_port), what="scrape")
            assert "\nmailroom_smtp_mails_received_total 0.0\n" in scraped
            assert 'mailroom_intake_last_accepted_timestamp_seconds{source="smtp"}' in scraped
        assert await stop(smtp.process) == 0
