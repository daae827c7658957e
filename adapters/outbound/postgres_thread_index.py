"""ThreadIndex in PostgreSQL (MAILROOM_DATABASE_URL), shared by every node: a reply that
reaches another node's SMTP adapter finds the thread the first node placed its mail in.
The same tables and rules as SqliteThreadIndex (`mentioned:` keys, references, subjects,
at most 200 participants); a thread's row is merged under a transaction-level advisory lock
on its key, so two nodes recording one thread at once lose neither's participants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database, database
from adapters.outbound.thread_index import MAX_PARTICIPANTS
from use_cases.models import ThreadEntry

UPSERT_THREAD = (
    "INSERT INTO threads (mailbox, workflow_id, subject_key, participants, last_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (mailbox, workflow_id) DO UPDATE SET "
    "subject_key = excluded.subject_key, participants = excluded.participants, "
    "last_at = excluded.last_at"
)


class PostgresThreadIndex:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL (a pool
        of its own, closed by `close`)."""
        self.db = database(target)
        self._owns_db = not isinstance(target, Database)

    async def close(self) -> None:
        if self._owns_db:
            await self.db.close()

    async def threads_of(self, message_ids: Sequence[str], mailbox: str) -> dict[str, str]:
        ids = list(message_ids)

        async def lookup(db: AsyncConnection) -> dict[str, str]:
            cursor = await db.execute(
                "SELECT message_id, workflow_id FROM thread_messages "
                "WHERE mailbox = %s AND message_id = ANY(%s)",
                (mailbox, ids),
            )
            return {message_id: workflow_id for message_id, workflow_id in await cursor.fetchall()}

        return await self.db.run(lookup) if ids else {}

    async def record(self, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
        await self.db.run(lambda db: _record(db, mailbox, workflow_id, entry))

    async def by_subject(
        self, mailbox: str, subject_key: str, since: datetime
    ) -> list[ThreadEntry]:
        async def lookup(db: AsyncConnection) -> list[ThreadEntry]:
            cursor = await db.execute(
                "SELECT workflow_id, participants, last_at FROM threads "
                "WHERE mailbox = %s AND subject_key = %s AND last_at >= %s "
                "ORDER BY last_at DESC LIMIT 20",
                (mailbox, subject_key, since),
            )
            return [
                ThreadEntry(
                    workflow_id=workflow_id,
                    subject_key=subject_key,
                    participants=tuple(people),
                    at=at.astimezone(UTC),
                )
                for workflow_id, people, at in await cursor.fetchall()
            ]

        return await self.db.run(lookup)

    async def threads_with_reference(self, mailbox: str, reference: str) -> list[str]:
        async def lookup(db: AsyncConnection) -> list[str]:
            cursor = await db.execute(
                "SELECT workflow_id FROM thread_refs WHERE mailbox = %s AND reference = %s LIMIT 2",
                (mailbox, reference),
            )
            return [workflow_id for (workflow_id,) in await cursor.fetchall()]

        return await self.db.run(lookup)


async def lock_thread(db: AsyncConnection, mailbox: str, workflow_id: str) -> None:
    """Within the caller's transaction: one writer of a thread's index rows at a time (the
    index's record and erasure's removal)."""
    await db.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{mailbox}\n{workflow_id}",)
    )


async def _record(db: AsyncConnection, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
    async with db.transaction(), db.cursor() as cursor:
        await lock_thread(db, mailbox, workflow_id)
        await cursor.executemany(
            "INSERT INTO thread_messages VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            [(mailbox, m, workflow_id) for m in entry.message_ids],
        )
        await cursor.executemany(
            "INSERT INTO thread_blobs VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(workflow_id, sha) for sha in entry.blobs],
        )
        if entry.reference:
            await cursor.execute(
                "INSERT INTO thread_refs VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (mailbox, entry.reference, workflow_id),
            )
        await cursor.execute(
            "SELECT subject_key, participants FROM threads WHERE mailbox = %s AND workflow_id = %s",
            (mailbox, workflow_id),
        )
        row = await cursor.fetchone()
        people = list(dict.fromkeys([*(row[1] if row else []), *entry.participants]))
        subject = row[0] if row and row[0] else entry.subject_key
        await cursor.execute(
            UPSERT_THREAD,
            (mailbox, workflow_id, subject, Jsonb(people[:MAX_PARTICIPANTS]), entry.at),
        )
