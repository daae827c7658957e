"""Real Temporal servers for the tests, started from the installed wheels (no download)."""

from __future__ import annotations

import sysconfig
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal_server import temporal_cli
from tests.postgres import PostgresServer, running_postgres
from tests.support import free_port
from workflows.search_attributes import THREAD_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = FIXTURES / "corpus"  # real-world mail, each source with its licence


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
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=False,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
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
