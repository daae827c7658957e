"""Which blobs each thread holds (the thread index's `thread_blobs`, written with each
placed mail), for retention and erasure: SQLite beside the index, or PostgreSQL
(MAILROOM_DATABASE_URL). The same queries on both."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.thread_index import LOOKUP_CHUNK, SqliteThreadIndex

Rows = list[tuple[object, ...]]


class SqliteThreadBlobs:
    def __init__(self, index: SqliteThreadIndex) -> None:
        self.db = index.db

    async def threads_holding_blobs(self, after: str, limit: int) -> list[str]:
        query = (
            "SELECT DISTINCT workflow_id FROM thread_blobs WHERE workflow_id > ? "
            "ORDER BY workflow_id LIMIT ?"
        )
        rows = await self.db.run(lambda db: db.execute(query, (after, limit)).fetchall())
        return [str(row[0]) for row in rows]

    async def blobs_of(self, workflow_ids: Sequence[str]) -> list[str]:
        query = "SELECT DISTINCT sha256 FROM thread_blobs WHERE workflow_id IN ({})"
        rows = await self.db.run(lambda db: _chunked(db, query, list(workflow_ids)))
        return sorted({str(row[0]) for row in rows})

    async def last_mail_at(self, workflow_ids: Sequence[str]) -> dict[str, datetime]:
        query = "SELECT workflow_id, max(last_at) FROM threads WHERE workflow_id IN ({}) GROUP BY 1"
        rows = await self.db.run(lambda db: _chunked(db, query, list(workflow_ids)))
        return {str(wid): datetime.fromisoformat(str(at)) for wid, at in rows}

    async def holders_of(self, shas: Sequence[str]) -> dict[str, set[str]]:
        query = "SELECT sha256, workflow_id FROM thread_blobs WHERE sha256 IN ({})"
        return _grouped(await self.db.run(lambda db: _chunked(db, query, list(shas))))

    async def forget_blobs(self, workflow_ids: Sequence[str], keep: Sequence[str] = ()) -> None:
        kept = set(keep)

        def forget(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                held = _chunked(
                    db,
                    "SELECT workflow_id, sha256 FROM thread_blobs WHERE workflow_id IN ({})",
                    list(workflow_ids),
                )
                db.executemany(
                    "DELETE FROM thread_blobs WHERE workflow_id = ? AND sha256 = ?",
                    (row for row in held if row[1] not in kept),
                )

        await self.db.run(forget)


class PostgresThreadBlobs:
    def __init__(self, index: PostgresThreadIndex) -> None:
        self.db = index.db

    async def threads_holding_blobs(self, after: str, limit: int) -> list[str]:
        query = (
            "SELECT DISTINCT workflow_id FROM thread_blobs WHERE workflow_id > %s "
            "ORDER BY workflow_id LIMIT %s"
        )
        return [str(row[0]) for row in await self._rows(query, (after, limit))]

    async def blobs_of(self, workflow_ids: Sequence[str]) -> list[str]:
        query = "SELECT DISTINCT sha256 FROM thread_blobs WHERE workflow_id = ANY(%s)"
        return sorted(str(row[0]) for row in await self._rows(query, (list(workflow_ids),)))

    async def last_mail_at(self, workflow_ids: Sequence[str]) -> dict[str, datetime]:
        query = (
            "SELECT workflow_id, max(last_at) FROM threads WHERE workflow_id = ANY(%s) GROUP BY 1"
        )
        rows = await self._rows(query, (list(workflow_ids),))
        return {str(wid): at for wid, at in rows if isinstance(at, datetime)}

    async def holders_of(self, shas: Sequence[str]) -> dict[str, set[str]]:
        query = "SELECT sha256, workflow_id FROM thread_blobs WHERE sha256 = ANY(%s)"
        return _grouped(await self._rows(query, (list(shas),)))

    async def forget_blobs(self, workflow_ids: Sequence[str], keep: Sequence[str] = ()) -> None:
        query = "DELETE FROM thread_blobs WHERE workflow_id = ANY(%s) AND NOT sha256 = ANY(%s)"
        await self._rows(query, (list(workflow_ids), list(keep)), fetch=False)

    async def _rows(self, query: str, args: tuple[object, ...], *, fetch: bool = True) -> Rows:
        async def run(db: AsyncConnection) -> Rows:
            cursor = await db.execute(query, args)
            return list(await cursor.fetchall()) if fetch else []

        return await self.db.run(run)


def _chunked(db: sqlite3.Connection, query: str, keys: list[str]) -> Rows:
    rows: Rows = []
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows += db.execute(query.format(",".join("?" * len(chunk))), chunk).fetchall()
    return rows


def _grouped(rows: Rows) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = {}
    for sha, workflow_id in rows:
        holders.setdefault(str(sha), set()).add(str(workflow_id))
    return holders
