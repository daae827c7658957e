"""Fixtures of the fault suite: a deployment of real processes, stopped by PID at teardown."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.deployment import Deployment, RelaySink


@pytest.fixture
def tag() -> str:
    """Unique per test: Temporal workflow ids are global per server."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def deployment(tmp_path: Path, tag: str) -> Iterator[Deployment]:
    running = Deployment(tmp_path, tag)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def relay() -> Iterator[RelaySink]:
    with RelaySink() as sink:
        yield sink


@pytest.fixture
def relayed_deployment(tmp_path: Path, tag: str, relay: RelaySink) -> Iterator[Deployment]:
    """Acknowledgements go out through `relay` (MAILROOM_OUTBOUND_SMTP), not the outbox."""
    running = Deployment(tmp_path, tag, MAILROOM_OUTBOUND_SMTP=f"127.0.0.1:{relay.port}")
    try:
        yield running
    finally:
        running.stop()
