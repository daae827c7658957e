"""The stores borrow their PostgreSQL connections from the process's pool (postgres_pool),
which survives their loss (a database restart, a failover, an idle timeout): a connection is
checked before it is lent, so the next call after the loss works, and one a cancelled call
left mid-statement is never lent again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest

from adapters.outbound.postgres import AsyncConnection, migrate
from adapters.outbound.postgres_pool import Database
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from tests.outbox_entries import sent_entry
from tests.support import wait_for
from use_cases.models import ThreadEntry


def cut_every_connection(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


async def test_the_sent_log_answers_the_first_call_after_losing_its_connections(
    postgres_url: str,
) -> None:
    migrate(postgres_url)
    database = Database(postgres_url)
    log = PostgresSentLog(database)
    log.record(sent_entry("<a@x>"))
    cut_every_connection(postgres_url)
    assert log.was_sent("<a@x>")
    await database.close()


async def test_the_thread_index_answers_the_first_call_after_losing_its_connections(
    postgres_url: str,
) -> None:
    migrate(postgres_url)
    index = PostgresThreadIndex(postgres_url)
    entry = ThreadEntry(workflow_id="t1", message_ids=("<a@x>",), at=datetime.now(UTC))
    await index.record("sales", "t1", entry)
    cut_every_connection(postgres_url)
    assert await index.threads_of(["<a@x>"], "sales") == {"<a@x>": "t1"}
    await index.close()


async def test_a_call_cancelled_mid_statement_leaves_the_next_call_working(
    postgres_url: str,
) -> None:
    shared = Database(postgres_url)

    async def slow(db: AsyncConnection) -> None:
        await db.execute("SELECT pg_sleep(30)")

    stuck = asyncio.create_task(shared.run(slow))
    await wait_for(lambda: sleeping(postgres_url), what="the slow statement to run")
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck

    async def answer(db: AsyncConnection) -> int:
        row = await (await db.execute("SELECT 42")).fetchone()
        return int(row[0]) if row else 0

    assert await asyncio.wait_for(shared.run(answer), timeout=10) == 42
    await shared.close()


def sleeping(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
        ).fetchone()
    return bool(row and row[0])
