"""SqlitePersonRecords' work (person_records.py) on the PostgreSQL stores
(MAILROOM_DATABASE_URL): the same tables by the same names, one transaction per store,
a thread's row changed under the advisory lock its index writers take."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from adapters.outbound.person_records import person_patterns
from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database
from adapters.outbound.postgres_thread_index import lock_thread
from use_cases.erasure import ERASED, PersonThread

THREADS_OF = (
    "SELECT mailbox, workflow_id, participants FROM threads WHERE EXISTS "
    "(SELECT 1 FROM jsonb_array_elements_text(threads.participants) AS p WHERE lower(p) = %s)"
)
IS_PERSON = "(lower({0}) = %s OR lower({0}) LIKE %s)"
SENT_TO = (
    f"FROM sent WHERE {IS_PERSON.format('from_addr')} OR EXISTS (SELECT 1 FROM "
    f"jsonb_array_elements_text(sent.to_addrs) AS t WHERE {IS_PERSON.format('t')})"
)
THREAD_TABLES = ("thread_messages", "threads", "thread_refs")


class PostgresPersonRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def threads_of(self, address: str) -> list[PersonThread]:
        async def find(db: AsyncConnection) -> list[PersonThread]:
            rows = await (await db.execute(THREADS_OF, (address,))).fetchall()
            return [PersonThread(mailbox=m, workflow_id=w, participants=p) for m, w, p in rows]

        return await self.db.run(find)

    async def remove_threads(
        self, threads: Sequence[PersonThread], address: str, *, dry_run: bool
    ) -> int:
        async def remove(db: AsyncConnection) -> None:
            async with db.transaction():
                for thread in threads:
                    await _remove_thread(db, thread, address)

        if not dry_run:
            await self.db.run(remove)
        return sum(not t.shared for t in threads)

    async def remove_sent(self, address: str, *, dry_run: bool) -> int:
        verb = "SELECT count(*)" if dry_run else "DELETE"
        return await self._count(f"{verb} {SENT_TO}", person_patterns(address) * 2, dry_run)

    async def remove_automatic_mail(self, capped: str, *, dry_run: bool) -> int:
        verb = "SELECT count(*)" if dry_run else "DELETE"
        return await self._count(
            f"{verb} FROM automatic_mail WHERE address = %s", (capped,), dry_run
        )

    async def anonymise_orders(self, address: str, *, dry_run: bool) -> int:
        where = f"WHERE {IS_PERSON.format('requester')}"
        if dry_run:
            query = f"SELECT count(*) FROM purchase_orders {where}"
            return await self._count(query, person_patterns(address), True)
        query = f"UPDATE purchase_orders SET requester = %s {where}"
        return await self._count(query, (ERASED, *person_patterns(address)), False)

    async def anonymise_invoices(self, address: str, *, dry_run: bool) -> int:
        where = f"WHERE {IS_PERSON.format('approved_by')}"
        if dry_run:
            return await self._count(
                f"SELECT count(*) FROM invoices {where}", person_patterns(address), True
            )
        query = f"UPDATE invoices SET approved_by = %s {where}"
        return await self._count(query, (ERASED, *person_patterns(address)), False)

    async def _count(self, query: str, args: tuple[str, ...], dry_run: bool) -> int:
        async def run(db: AsyncConnection) -> int:
            cursor = await db.execute(query, args)
            if dry_run:
                row = await cursor.fetchone()
                return int(row[0]) if row else 0
            return cursor.rowcount

        return await self.db.run(run)


async def _remove_thread(db: AsyncConnection, thread: PersonThread, address: str) -> None:
    key = (thread.mailbox, thread.workflow_id)
    await lock_thread(db, *key)
    if thread.shared:
        kept = [p for p in thread.participants if p.lower() != address]
        await db.execute(
            "UPDATE threads SET participants = %s WHERE mailbox = %s AND workflow_id = %s",
            (Jsonb(kept), *key),
        )
        return
    for table in THREAD_TABLES:
        await db.execute(f"DELETE FROM {table} WHERE mailbox = %s AND workflow_id = %s", key)
