"""Blob references and pins (blob_refs.py's BlobReferences) in PostgreSQL, for a blob
directory every node mounts (MAILROOM_BLOB_DIR with MAILROOM_DATABASE_URL): a sweep on one
node must see what threads on every node hold, and SQLite cannot be shared over NFS (its WAL
needs shared memory, its locks are unreliable there).

The same rules and tables as PostgresBlobStore (migration 6): each decision to remove a file
is taken under the blob's transaction-level advisory lock, which `pin` takes too, so a put
either pins first (the file stays) or finds the file gone and writes it again. The files found
in the directory the first time any node uses it are adopted as referenced (a marker row in
`shared_secrets` says it was done, read before listing: later processes never walk the share).
Files that come in later (another node's old blobs copied in) are adopted by the sweep: it
removes an unheld file only when a pin row says it was stored through this database (a dead
writer's stale pin is kept, with no holders, until its file goes); a file no row knows is
adopted as referenced. Until that sweep, a refused mail with the same bytes could remove such
a file: copy blobs in while the nodes are stopped (docs/configuration.md, MAILROOM_BLOB_DIR).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from adapters.outbound.blob_refs import Remove
from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_blob_store import (
    BLOB_LOCKS,
    LOCK,
    PIN,
    forget_references,
    pin_cutoff,
    unpin,
)
from adapters.outbound.postgres_pool import Database

ADOPTED = "blob-directory-adopted"  # a shared_secrets row: its value is not a secret
T = TypeVar("T")
HELD = (
    "SELECT s FROM unnest(%s::text[]) AS s WHERE EXISTS "
    "(SELECT 1 FROM blob_references r WHERE r.sha256 = s) OR EXISTS "
    "(SELECT 1 FROM blob_pins p WHERE p.sha256 = s AND p.holders > 0)"
)
# A stale pin (a dead writer's) is kept with no holders until its file is removed: the row
# is what tells the sweep the file was stored through this database. A file with no row at
# all came in from outside (another node's old blobs copied in) and is adopted instead.
STALE = "UPDATE blob_pins SET holders = 0 WHERE since < %s AND holders > 0"
KNOWN = "SELECT sha256 FROM blob_pins WHERE sha256 = ANY(%s)"
ADOPT = (
    "INSERT INTO blob_references (sha256) SELECT unnest(%s::text[]) ON CONFLICT (sha256) DO NOTHING"
)


class PostgresBlobReferences:
    def __init__(self, db: Database, existing: Callable[[], Iterable[str]]) -> None:
        self.db = db
        self._existing = existing
        self._adopted = False

    async def pin(self, sha256: str) -> None:
        async def pin(db: AsyncConnection) -> None:
            async with db.transaction():
                await db.execute(LOCK, (BLOB_LOCKS, [sha256]))
                await db.execute(PIN, (sha256,))

        await self._run(pin)

    async def settle(self, shas: Sequence[str]) -> None:
        async def settle(db: AsyncConnection) -> None:
            async with db.transaction():
                await db.execute(
                    "INSERT INTO blob_references (sha256) SELECT DISTINCT s "
                    "FROM unnest(%s::text[]) AS s ON CONFLICT (sha256) DO UPDATE "
                    "SET since = clock_timestamp()",  # the last settle (retention)
                    (list(shas),),
                )
                await unpin(db, list(shas))

        await self._run(settle)

    async def release(self, shas: Sequence[str], remove: Remove) -> list[str]:
        """Drop one pin per entry; remove each blob no one holds. Returns those removed."""

        async def release(db: AsyncConnection) -> list[str]:
            async with db.transaction():
                await db.execute(LOCK, (BLOB_LOCKS, list(shas)))
                await unpin(db, list(shas))
                return await _remove_unheld(db, shas, remove)

        return await self._run(release)

    async def remove_unheld(
        self, shas: Sequence[str], grace: timedelta, remove: Remove, *, now: float | None = None
    ) -> list[str]:
        """The sweep: mark stale the pins older than `grace` by the database's clock (which
        stamped them: a node's own clock may run ahead or behind), then remove each of
        `shas` no one holds. Returns those removed."""

        async def sweep(db: AsyncConnection) -> list[str]:
            await db.execute(STALE, (await pin_cutoff(db, grace, now),))
            async with db.transaction():
                await db.execute(LOCK, (BLOB_LOCKS, list(shas)))
                return await _remove_unheld(db, shas, remove, adopt_unknown=True)

        return await self._run(sweep)

    async def forget(
        self, shas: Sequence[str], remove: Remove, *, settled_before: datetime | None = None
    ) -> list[str]:
        """Retention and erasure: drop the references of `shas`, under their locks, and
        remove each file no mail is storing right now, except, with `settled_before`, one
        settled since (BlobReferences.forget)."""

        async def forget(db: AsyncConnection) -> list[str]:
            async with db.transaction():
                await db.execute(LOCK, (BLOB_LOCKS, list(shas)))
                await forget_references(db, list(shas), settled_before)
                return await _remove_unheld(db, shas, remove)

        return await self._run(forget)

    async def is_referenced(self, sha256: str) -> bool:
        async def referenced(db: AsyncConnection) -> bool:
            query = "SELECT 1 FROM blob_references WHERE sha256 = %s"
            return await (await db.execute(query, (sha256,))).fetchone() is not None

        return await self._run(referenced)

    async def close(self) -> None:
        """The pool is the process's (orchestrator/stores.py closes it)."""

    async def _run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if not self._adopted:
            await self._adopt_once()
            self._adopted = True
        return await self.db.run(fn)

    async def _adopt_once(self) -> None:
        """The marker is read before the directory is listed: a share of millions of blobs
        is walked once, by the first node, not at every process start."""
        if await self.db.run(_is_adopted):
            return
        existing = await asyncio.to_thread(lambda: list(self._existing()))
        await self.db.run(lambda db: _adopt(db, existing))


async def _is_adopted(db: AsyncConnection) -> bool:
    query = "SELECT 1 FROM shared_secrets WHERE name = %s"
    return await (await db.execute(query, (ADOPTED,))).fetchone() is not None


async def _adopt(db: AsyncConnection, existing: list[str]) -> None:
    """Once per database, by whichever node comes first (the others wait on the lock, then
    find the marker): the blobs already in the directory, which any thread may hold."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s, 0)", (BLOB_LOCKS,))
        if await _is_adopted(db):
            return
        await db.execute(ADOPT, (existing,))
        await db.execute("INSERT INTO shared_secrets (name, value) VALUES (%s, '1')", (ADOPTED,))


async def _remove_unheld(
    db: AsyncConnection, shas: Sequence[str], remove: Remove, *, adopt_unknown: bool = False
) -> list[str]:
    """Under the blobs' locks: remove the files of those no one holds (in a thread). With
    `adopt_unknown` (the sweep), an unheld file no pin row knows is adopted, not removed."""
    held = {str(row[0]) for row in await (await db.execute(HELD, (list(shas),))).fetchall()}
    unheld = [sha for sha in dict.fromkeys(shas) if sha not in held]
    if adopt_unknown and unheld:
        known = {str(row[0]) for row in await (await db.execute(KNOWN, (unheld,))).fetchall()}
        await db.execute(ADOPT, ([sha for sha in unheld if sha not in known],))
        unheld = [sha for sha in unheld if sha in known]
        await db.execute("DELETE FROM blob_pins WHERE sha256 = ANY(%s)", (unheld,))

    def remove_files() -> None:
        for sha in unheld:
            remove(sha)

    await asyncio.to_thread(remove_files)
    return unheld
