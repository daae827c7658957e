"""MAILROOM_METRICS_ADDRESS: off by default, on for `mailroom up` at 127.0.0.1:9464 when that
port is free; a set address that cannot be served stops the start-up in one line."""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.metrics import (
    UP_METRICS_ADDRESS,
    child_metrics,
    metrics_address,
    serve_metrics,
    unserved,
)
from orchestrator.settings import Settings, parse_host_port
from orchestrator.startup_checks import StartupError
from use_cases.ports import NoMetrics

UP = {"server", "worker", "smtp"}


def settings(tmp_path: Path, address: str | None) -> Settings:
    return Settings(data_dir=tmp_path, metrics_address=address)


def test_metrics_are_off_unless_set_except_for_mailroom_up(tmp_path: Path) -> None:
    assert metrics_address(settings(tmp_path, None), {"smtp"}) is None
    assert metrics_address(settings(tmp_path, None), {"worker"}) is None
    assert metrics_address(settings(tmp_path, None), UP) == (UP_METRICS_ADDRESS, False)
    assert metrics_address(settings(tmp_path, "off"), UP) is None
    assert metrics_address(settings(tmp_path, ""), UP) is None
    assert metrics_address(settings(tmp_path, "0.0.0.0:9100"), {"smtp"}) == ("0.0.0.0:9100", True)


@pytest.mark.parametrize("bad", ["9100", "host:", "host:70000"])
def test_a_malformed_metrics_address_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValidationError, match="metrics_address"):
        settings(tmp_path, bad)


async def test_a_set_address_already_taken_stops_the_start_up(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with AsyncExitStack() as stack:
            with pytest.raises(StartupError, match="MAILROOM_METRICS_ADDRESS: cannot serve"):
                serve_metrics((f"127.0.0.1:{port}", True), stack)


def test_mailroom_ups_default_address_when_taken_is_skipped_not_fatal() -> None:
    taken = OSError(98, "Address already in use")
    assert isinstance(unserved(UP_METRICS_ADDRESS, taken, required=False), NoMetrics)
    with pytest.raises(StartupError, match="Address already in use"):
        unserved("127.0.0.1:9100", taken, required=True)


def test_the_children_of_a_process_group_serve_on_the_port_plus_their_number(
    tmp_path: Path,
) -> None:
    at = child_metrics(settings(tmp_path, "0.0.0.0:9100"), {"smtp"}, children=3)
    assert at is not None
    assert [at(n) for n in (1, 2, 3)] == [(f"0.0.0.0:{p}", True) for p in (9101, 9102, 9103)]
    up_default = child_metrics(settings(tmp_path, None), UP, children=2)
    assert up_default is not None and up_default(1) == ("127.0.0.1:9465", False)
    assert child_metrics(settings(tmp_path, None), {"worker"}, children=2) is None
    with pytest.raises(StartupError, match="no room for the 2 child processes' ports"):
        child_metrics(settings(tmp_path, "127.0.0.1:65534"), {"smtp"}, children=2)


def test_mailroom_up_serves_by_default_with_an_external_temporal_or_child_processes(
    tmp_path: Path,
) -> None:
    # MAILROOM_TEMPORAL_ADDRESS set: no embedded server among up's parts
    assert metrics_address(settings(tmp_path, None), {"worker", "smtp"}) == (
        UP_METRICS_ADDRESS,
        False,
    )
    # --workers N / --smtp-processes N: the parent's own parts and its children's roles
    assert metrics_address(settings(tmp_path, None), {"server", "smtp"} | {"worker"}) == (
        UP_METRICS_ADDRESS,
        False,
    )


async def test_a_stopped_endpoint_gives_its_port_back(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AsyncExitStack() as stack:
        serve_metrics((f"127.0.0.1:{port}", True), stack)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


async def test_an_ipv6_address_in_brackets_is_served_and_so_are_its_childrens() -> None:
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    async with AsyncExitStack() as stack:
        serve_metrics((f"[::1]:{port}", True), stack)
        with socket.create_connection(("::1", port), timeout=5):
            pass
    assert parse_host_port(f"[::1]:{port}") == ("::1", port)


def test_an_ipv6_parents_children_are_given_bracketed_addresses(tmp_path: Path) -> None:
    at = child_metrics(settings(tmp_path, "[::1]:9100"), {"smtp"}, children=1)
    assert at is not None and at(1) == ("[::1]:9101", True)
