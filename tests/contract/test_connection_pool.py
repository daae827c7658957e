"""One pool of PostgreSQL connections per process (MAILROOM_DATABASE_POOL_SIZE): calls beyond
the bound wait their turn instead of opening more connections than the database allows."""

from __future__ import annotations

import asyncio

import psycopg

from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database

PROBE = "pool-size-probe"


def connections_to(url: str) -> int:
    """The pool's connections: not this probe's, nor those of probes running at once."""
    with psycopg.connect(url, autocommit=True, application_name=PROBE) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name <> %s",
            (PROBE,),
        ).fetchone()
    return int(row[0]) if row else 0


async def test_calls_beyond_the_pool_size_wait_instead_of_opening_connections(
    postgres_url: str,
) -> None:
    database = Database(postgres_url, max_size=2)
    most = 0

    async def slow(db: AsyncConnection) -> int:
        nonlocal most
        await db.execute("SELECT pg_sleep(0.2)")
        most = max(most, await asyncio.to_thread(connections_to, postgres_url))
        return 1

    assert sum(await asyncio.gather(*(database.run(slow) for _ in range(6)))) == 6
    assert most == 2
    await database.close()
