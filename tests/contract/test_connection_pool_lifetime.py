"""The process's pool of PostgreSQL connections lives on one event loop: a CLI command that
runs several loops in turn must not leave the connections of each finished loop open on the
database, and a call after the pool was closed (at shutdown) is an error saying so, never a
new pool nobody closes."""

from __future__ import annotations

import asyncio
import gc
import threading

import psycopg
import pytest

from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database, DatabaseClosed
from tests.support import wait_for_sync

PROBE = "pool-lifetime-probe"


def connections_to(url: str) -> int:
    with psycopg.connect(url, autocommit=True, application_name=PROBE) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name <> %s "
            "AND backend_type = 'client backend'",
            (PROBE,),
        ).fetchone()
    return int(row[0]) if row else 0


async def one(db: AsyncConnection) -> int:
    row = await (await db.execute("SELECT 1")).fetchone()
    return int(row[0]) if row else 0


def test_the_pool_of_a_finished_event_loop_is_closed_when_another_loop_uses_it(
    postgres_url: str,
) -> None:
    before = connections_to(postgres_url)
    database = Database(postgres_url)
    gc.disable()  # a dropped pool is a cycle: closed, if ever, when the collector next runs
    try:
        for _ in range(3):  # three CLI steps, each its own asyncio.run
            assert asyncio.run(database.run(one)) == 1
        assert connections_to(postgres_url) == before + 1  # the last loop's only
    finally:
        gc.enable()
    asyncio.run(database.close())
    assert connections_to(postgres_url) == before


def test_the_pool_of_a_loop_still_running_elsewhere_is_closed_on_that_loop(
    postgres_url: str,
) -> None:
    before = connections_to(postgres_url)
    database = Database(postgres_url)
    other = asyncio.new_event_loop()  # a loop this process no longer calls the database from
    thread = threading.Thread(target=other.run_forever)
    thread.start()
    try:
        assert asyncio.run_coroutine_threadsafe(database.run(one), other).result(10) == 1
        assert asyncio.run(database.run(one)) == 1
        wait_for_sync(
            lambda: connections_to(postgres_url) == before + 1, what="the old pool closed"
        )
        asyncio.run(database.close())
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join()
        other.close()


async def test_a_call_after_the_pool_was_closed_is_an_error_naming_it(postgres_url: str) -> None:
    database = Database(postgres_url)
    assert await database.run(one) == 1
    await database.close()
    with pytest.raises(DatabaseClosed, match="closed"):
        await database.run(one)
    with pytest.raises(DatabaseClosed, match="closed"), database.connection():
        pass
