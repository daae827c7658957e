"""BlobStore in PostgreSQL (MAILROOM_DATABASE_URL, no MAILROOM_BLOB_DIR): the raw mail and
attachments one node's SMTP or IMAP adapter stores are read by any node's worker.

The same rules as FileBlobStore and its blob_refs: a blob's key is its address (a keyed hash
of its bytes, blob_sealing; storing the same bytes again costs one lookup, not their
transfer), its row holds the bytes sealed with the installation's keys; a `put` pins its
blob, a hand-off that may have reached Temporal settles it (a reference for good), a refused
mail releases it, and a blob is removed only when neither referenced nor pinned. Every
decision to remove, and every `put`, first takes a transaction-level advisory lock on the
blob's key, so a node removing a blob and another storing it again are serialised: the put
either finds the row gone and writes it again, or the remover sees the new pin. The sweep
drops pins older than the grace period (a crashed writer's) and then what no thread holds, on
any node: references and pins live beside the bytes, in the same database. Times are the
database's clock, the one clock every node shares.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from adapters.outbound.blob_sealing import (
    BlobSealing,
    address_with,
    message_key_with,
    message_keys_with,
    open_with,
    seal_with,
)
from adapters.outbound.blob_store import (
    HASH_IN_THREAD_BYTES,
    MIN_SWEEP_GRACE,
    SWEEP_BATCH,
    Swept,
    is_sha256,
)
from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database, database
from use_cases.mail import BlobRef
from use_cases.ports import BlobNotFound

# Any fixed 32-bit number, the same on every node: "a blob's key" to PostgreSQL's advisory
# locks (the two-number form: apart from the single-number locks of migrations and caps).
BLOB_LOCKS = 0x626C6F62  # "blob"
LOCK = (
    "SELECT pg_advisory_xact_lock(%s, k) FROM "
    "(SELECT DISTINCT hashtext(s) AS k FROM unnest(%s::text[]) AS s ORDER BY 1) AS keys"
)  # in one order on every node: two removals of overlapping batches never deadlock
PIN = (
    "INSERT INTO blob_pins (sha256, holders) VALUES (%s, 1) ON CONFLICT (sha256) DO UPDATE "
    "SET holders = blob_pins.holders + 1, since = clock_timestamp()"
)
UNPIN = (
    "UPDATE blob_pins SET holders = holders - taken.n FROM (SELECT s, count(*) AS n "
    "FROM unnest(%s::text[]) AS s GROUP BY s) AS taken WHERE blob_pins.sha256 = taken.s"
)
UNHELD = (
    "NOT EXISTS (SELECT 1 FROM blob_references r WHERE r.sha256 = blobs.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.sha256 = blobs.sha256)"
)
REMOVE_UNHELD = f"DELETE FROM blobs WHERE sha256 = ANY(%s) AND {UNHELD} RETURNING sha256, size"


class PostgresBlobStore:
    def __init__(self, target: str | Database, *, sealing: BlobSealing | None = None) -> None:
        """`target`: the process's shared pool, or a URL (a pool of its own, closed by
        `close`). `sealing`: the keys blobs are sealed and named with (mailroom always
        gives them)."""
        self.db = database(target)
        self.sealing = sealing
        self._owns_db = not isinstance(target, Database)

    def address_of(self, data: bytes) -> str:
        """The address `put` stores `data` under (tests; what a thread's reference holds)."""
        return address_with(self.sealing, data)

    async def put(self, data: bytes) -> BlobRef:
        big = len(data) > HASH_IN_THREAD_BYTES
        sealing = self.sealing
        ref, stored = (
            await asyncio.to_thread(seal_with, sealing, data) if big else seal_with(sealing, data)
        )
        await self.db.run(lambda db: _store(db, ref.sha256, stored))
        return ref

    async def get(self, sha256: str) -> bytes:
        if not is_sha256(sha256):
            raise BlobNotFound(f"not a sha256: {sha256[:80]!r}")
        async with self.db.connection_async() as db:
            query = "SELECT data FROM blobs WHERE sha256 = %s"
            row = await (await db.execute(query, (sha256,), binary=True)).fetchone()
        if row is None:
            raise BlobNotFound(f"no blob {sha256}")
        return await self._opened(sha256, bytes(row[0]))

    async def keep_raw(self, message_id: str, raw: bytes) -> BlobRef:
        ref = await self.put(raw)
        try:
            async with self.db.connection_async() as db:
                await db.execute(
                    "INSERT INTO raw_messages (message_key, sha256) VALUES (%s, %s) "
                    "ON CONFLICT (message_key) DO UPDATE SET sha256 = excluded.sha256, "
                    "kept_at = clock_timestamp()",
                    (message_key_with(self.sealing, message_id), ref.sha256),
                )
        except BaseException:
            await self.release([ref], message_id=message_id)
            raise
        return ref

    async def raw(self, message_id: str) -> bytes:
        keys = message_keys_with(self.sealing, message_id)  # the keyed name first
        async with self.db.connection_async() as db:
            cursor = await db.execute(
                "SELECT b.sha256, b.data FROM raw_messages r JOIN blobs b USING (sha256) "
                "WHERE r.message_key = ANY(%s) ORDER BY r.message_key = %s DESC LIMIT 1",
                (keys, keys[0]),
                binary=True,
            )
            row = await cursor.fetchone()
        if row is None:
            raise BlobNotFound(f"no raw message kept for {message_id}")
        return await self._opened(str(row[0]), bytes(row[1]))

    async def settle(self, refs: Sequence[BlobRef]) -> None:
        """One transaction: a remover's check sees the pins or the references, never
        neither (no lock needed)."""
        shas = [ref.sha256 for ref in refs]

        async def settle(db: AsyncConnection) -> None:
            async with db.transaction():
                await db.execute(
                    "INSERT INTO blob_references (sha256) SELECT DISTINCT s "
                    "FROM unnest(%s::text[]) AS s ON CONFLICT (sha256) DO UPDATE "
                    "SET since = clock_timestamp()",  # the last settle (retention)
                    (shas,),
                )
                await unpin(db, shas)

        if shas:
            await self.db.run(settle)

    async def release(self, refs: Sequence[BlobRef], *, message_id: str | None = None) -> None:
        shas = [ref.sha256 for ref in refs]
        if shas:
            key = None if message_id is None else message_key_with(self.sealing, message_id)
            await self.db.run(lambda db: _release(db, shas, key))

    async def sweep(self, grace: timedelta, *, now: float | None = None) -> Swept:
        """Drop pins older than `grace` (never than MIN_SWEEP_GRACE), then remove the blobs
        older than it that no thread holds, and raw pointers whose blob is gone."""
        grace = max(grace, MIN_SWEEP_GRACE)
        async with self.db.connection_async() as db:
            cutoff = await pin_cutoff(db, grace, now)
            await db.execute("DELETE FROM blob_pins WHERE since < %s", (cutoff,))
        removed, freed = await self._remove_old_unheld(cutoff)
        async with self.db.connection_async() as db:
            cursor = await db.execute(
                "DELETE FROM raw_messages r WHERE kept_at < %s AND NOT EXISTS "
                "(SELECT 1 FROM blobs b WHERE b.sha256 = r.sha256)",
                (cutoff,),
            )
            pointers = cursor.rowcount
        return Swept(blobs=removed, pointers=pointers, bytes_freed=freed)

    async def _opened(self, address: str, stored: bytes) -> bytes:
        if len(stored) > HASH_IN_THREAD_BYTES:
            return await asyncio.to_thread(open_with, self.sealing, address, stored)
        return open_with(self.sealing, address, stored)

    async def sizes(self, shas: Sequence[str]) -> dict[str, int]:
        """The size of each of `shas` stored here (a retention dry run)."""
        async with self.db.connection_async() as db:
            query = "SELECT sha256, size FROM blobs WHERE sha256 = ANY(%s)"
            rows = await (await db.execute(query, (list(shas),))).fetchall()
        return {str(sha): int(size) for sha, size in rows}

    async def remove_for_good(
        self, shas: Sequence[str], *, settled_before: datetime | None = None
    ) -> dict[str, int]:
        """Retention and erasure: drop the references of `shas`, under their locks, and
        remove each with its raw pointers, except one a mail is storing right now (a pin)
        or, with `settled_before`, settled since. The size of each removed."""
        return await self.db.run(lambda db: _remove_for_good(db, list(shas), settled_before))

    async def close(self) -> None:
        if self._owns_db:
            await self.db.close()

    async def _remove_old_unheld(self, cutoff: datetime) -> tuple[int, int]:
        """In batches of SWEEP_BATCH, each its own transaction: a put waits one batch at most."""
        removed = freed = 0
        after = ""
        while True:
            async with self.db.connection_async() as db:
                cursor = await db.execute(
                    f"SELECT sha256 FROM blobs WHERE stored_at < %s AND sha256 > %s AND {UNHELD} "
                    "ORDER BY sha256 LIMIT %s",
                    (cutoff, after, SWEEP_BATCH),
                )
                batch = [str(row[0]) for row in await cursor.fetchall()]
                if not batch:
                    return removed, freed
                async with db.transaction():
                    await db.execute(LOCK, (BLOB_LOCKS, batch))
                    gone = await (await db.execute(REMOVE_UNHELD, (batch,))).fetchall()
            removed += len(gone)
            freed += sum(int(size) for _, size in gone)
            after = batch[-1]


async def _store(db: AsyncConnection, address: str, stored: bytes) -> None:
    """`size` is what the row takes (the sealed bytes), as a file's size is."""
    async with db.transaction():
        await db.execute(LOCK, (BLOB_LOCKS, [address]))
        await db.execute(PIN, (address,))
        cursor = await db.execute("SELECT 1 FROM blobs WHERE sha256 = %s", (address,))
        if await cursor.fetchone() is None:
            await db.execute(
                "INSERT INTO blobs (sha256, size, data) VALUES (%s, %s, %s)",
                (address, len(stored), stored),
            )


async def unpin(db: AsyncConnection, shas: list[str]) -> None:
    await db.execute(UNPIN, (shas,))
    await db.execute("DELETE FROM blob_pins WHERE sha256 = ANY(%s) AND holders <= 0", (shas,))


async def _release(db: AsyncConnection, shas: list[str], message_key: str | None) -> None:
    async with db.transaction():
        await db.execute(LOCK, (BLOB_LOCKS, shas))
        await unpin(db, shas)
        gone = [str(row[0]) for row in await (await db.execute(REMOVE_UNHELD, (shas,))).fetchall()]
        if message_key is not None and gone:
            await db.execute(
                "DELETE FROM raw_messages WHERE message_key = %s AND sha256 = ANY(%s)",
                (message_key, gone),
            )


async def _remove_for_good(
    db: AsyncConnection, shas: list[str], settled_before: datetime | None
) -> dict[str, int]:
    async with db.transaction():
        await db.execute(LOCK, (BLOB_LOCKS, shas))
        await forget_references(db, shas, settled_before)
        gone = await (await db.execute(REMOVE_UNHELD, (shas,))).fetchall()
        await db.execute(
            "DELETE FROM raw_messages WHERE sha256 = ANY(%s)", ([str(g[0]) for g in gone],)
        )
    return {str(sha): int(size) for sha, size in gone}


async def forget_references(
    db: AsyncConnection, shas: list[str], settled_before: datetime | None
) -> None:
    """Drop the references of `shas`, but, with `settled_before`, those settled since."""
    if settled_before is None:
        await db.execute("DELETE FROM blob_references WHERE sha256 = ANY(%s)", (shas,))
        return
    await db.execute(
        "DELETE FROM blob_references WHERE sha256 = ANY(%s) AND since < %s",
        (shas, settled_before),
    )


async def pin_cutoff(db: AsyncConnection, grace: timedelta, now: float | None) -> datetime:
    if now is not None:  # a test's clock
        return datetime.fromtimestamp(now, UTC) - grace
    row = await (await db.execute("SELECT clock_timestamp() - %s", (grace,))).fetchone()
    assert row is not None
    cutoff: datetime = row[0]
    return cutoff
