"""Real Temporal servers for the tests, started from the installed wheels (no download)."""

from __future__ import annotations

import logging
import os
import sysconfig
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator import cli
from orchestrator.temporal_server import temporal_cli
from tests.encryption import TEST_CONVERTER
from tests.postgres import PostgresServer, running_postgres
from tests.support import free_port
from workflows.search_attributes import THREAD_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = FIXTURES / "corpus"  # real-world mail, each source with its licence


@pytest.fixture(autouse=True)
def process_left_as_found() -> Iterator[None]:
    """Fails a test that leaves this process's umask or logging changed (e.g. by calling
    `cli.main` without `main_in_this_process`), and puts them back: a log bound to a test's
    captured stderr, closed after it, broke every later test's log line ("I/O operation on
    closed file", 150 failures in one run), and a 0077 umask made later fixtures' files
    unreadable to the servers they start (Dovecot: "Temporary authentication failure")."""
    umask = os.umask(0o022)
    os.umask(umask)
    factory = structlog.get_config()["logger_factory"]
    handlers = list(logging.root.handlers)
    yield
    changed = []
    if os.umask(umask) != umask:
        changed.append("umask")
    if structlog.get_config()["logger_factory"] is not factory:
        structlog.configure(logger_factory=factory)
        changed.append("structlog's logger factory")
    if logging.root.handlers != handlers:
        logging.root.handlers[:] = handlers
        changed.append("the root logging handlers")
    if changed:
        pytest.fail(f"the test left {', '.join(changed)} changed: use main_in_this_process")


@pytest.fixture
def main_in_this_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For a test that runs `cli.main` in this process: its logging and tracing set-up are
    skipped and the umask it sets (0077) is put back (see process_left_as_found)."""
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.setattr(cli, "configure_tracing", lambda: None)
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


def test_server_binary() -> str:
    path = Path(sysconfig.get_path("scripts")) / "temporal-test-server"
    if not path.exists():
        pytest.fail("temporal-test-server missing: install the test extras (make test does)")
    return str(path)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(),
        data_converter=pydantic_data_converter,
        port=free_port(),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=TEST_CONVERTER,  # mailroom's, sealing with the tests' key
        port=free_port(),
        ui=False,
        dev_server_extra_args=[
            *("--sqlite-pragma", "journal_mode=wal"),
            # A run deleted just after it closed (erasure) goes once the server has
            # acknowledged its close: every second here, not every 30 s (the default).
            *("--dynamic-config-value", 'history.transferProcessorUpdateAckInterval="1s"'),
        ],
        search_attributes=THREAD_ATTRIBUTES,  # as the embedded server has
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session (tests/postgres.py); fails when it is not installed."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL: its URL."""
    return postgres_server.create_database()
