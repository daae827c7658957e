"""Fixtures for integration tests: a throwaway Dovecot per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.dovecot import Dovecot, running_dovecot
from tests.dovecot_config import WITHOUT_IDLE_AND_MOVE
from tests.stack import Stack, running_stack, stack_settings


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """Dovecot with its full capability list (IDLE, MOVE, UIDPLUS)."""
    with running_dovecot() as server:
        yield server


@pytest.fixture
def dovecot_without_idle_and_move() -> Iterator[Dovecot]:
    """Dovecot advertising neither IDLE nor MOVE: polling and COPY + UID EXPUNGE."""
    with running_dovecot(capability=WITHOUT_IDLE_AND_MOVE) as server:
        yield server


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    """The service in this process (worker, flow workers, SMTP) on the test's own queues;
    a test module with other settings defines its own `stack`."""
    settings = stack_settings(tmp_path / "data", dev_server.client, task_queue)
    async with running_stack(dev_server.client, settings) as running:
        yield running
