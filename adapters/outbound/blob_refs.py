"""Which blobs a thread refers to, and which a mail is storing right now
(`<data dir>/blob_refs.sqlite`), so refused mail and the sweep never remove a blob that
some accepted mail holds.

Blobs are content-addressed: one file may belong to a refused mail and to an accepted
one with the same attachment, in this process or another (the SMTP and IMAP adapters,
`mailroom replay`). So every `put` first *pins* its blob (a count, with the time of the
last pin); a mail whose hand-off may have reached Temporal *settles* its blobs (recorded
for good: the thread may read them any day); a refused mail *releases* its pins, and a
blob is removed only when, inside one `BEGIN IMMEDIATE` transaction, it is neither
referenced nor pinned. A `put` pins before it looks for the file, so a removal is
either before the pin (the put writes the file again) or sees the pin.

A crash between pin and settle leaves a pin: pins older than the grace period are stale
and dropped by the sweep. Settled references are written with synchronous=FULL: a power
loss must not forget that a thread holds a blob, or the sweep would remove it; pins and
removals are not fsynced (see `_durable`). Pins and settles are group-committed
(SqliteConnection.run_grouped): concurrent mails' pins and settles share one transaction, one
trip to the connection's thread and, when a settle is among them, one fsync.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from adapters.outbound.blob_writes import BlobWrite, WriteGroup
from adapters.outbound.group_commit import GroupCommit
from adapters.outbound.sqlite_connection import SqliteConnection, in_savepoint

SCHEMA = """
CREATE TABLE IF NOT EXISTS referenced (
    sha256 TEXT PRIMARY KEY,
    since REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pinned (
    sha256 TEXT PRIMARY KEY,
    holders INTEGER NOT NULL,
    since REAL NOT NULL
) WITHOUT ROWID;
"""
# user_version once every blob found at the table's creation was adopted as referenced
ADOPTED = 1

T = TypeVar("T")

Remove = Callable[[str], object]  # removes a blob's file


class PinNotRecorded(sqlite3.Error):
    """A group of pins (and settles) failed as one, rolled back: none of its puts holds a
    pin to drop, none of its settles was recorded."""


@dataclass(frozen=True)
class Settle:
    """A settle queued with the blob store's writes (`BlobReferences.pinned_writes`)."""

    shas: Sequence[str]


class References(Protocol):
    """Where a FileBlobStore records pins and references: this SQLite file (one node), or
    PostgreSQL for a directory nodes share (postgres_blob_refs.PostgresBlobReferences)."""

    async def pin(self, sha256: str) -> None: ...
    async def settle(self, shas: Sequence[str]) -> None: ...
    async def release(self, shas: Sequence[str], remove: Remove) -> list[str]: ...
    async def remove_unheld(
        self, shas: Sequence[str], grace: timedelta, remove: Remove, *, now: float | None = None
    ) -> list[str]: ...
    async def is_referenced(self, sha256: str) -> bool: ...
    async def forget(
        self, shas: Sequence[str], remove: Remove, *, settled_before: datetime | None = None
    ) -> list[str]: ...
    async def close(self) -> None: ...


class BlobReferences:
    def __init__(self, path: Path, existing: Callable[[], Iterable[str]]) -> None:
        """`existing` lists the blobs already on disk: the first time the table is made,
        they are adopted as referenced (written before references were recorded, a thread
        may hold any of them)."""
        self.path = path
        self._existing = existing
        self._db = SqliteConnection(path, SCHEMA)
        self._adopted = False
        self._with_writes: GroupCommit[BlobWrite | Settle, None] | None = None

    async def pin(self, sha256: str) -> None:
        await self._adopt_once()
        await self._db.run_grouped(lambda db: _pin(db, sha256), durable=False)

    def pinned_writes(self, write: WriteGroup) -> GroupCommit[BlobWrite | Settle, None]:
        """The blob store's writes with their pins, and the settles queued with them, in one
        trip to this connection's thread per group: the pins and settles in one transaction
        (fsynced when a settle is in it), then `write`. Pinned before the files are looked
        for, as `pin` then a write would be. From here on `settle` goes this way too."""

        def process(
            db: sqlite3.Connection, items: Sequence[BlobWrite | Settle]
        ) -> list[Exception | None]:
            settled = self._record(db, items)
            written = iter(write([item for item in items if isinstance(item, BlobWrite)]))
            return [
                settled[n] if isinstance(item, Settle) else next(written)
                for n, item in enumerate(items)
            ]

        self._with_writes = self._db.group(process)
        return self._with_writes

    def _record(
        self, db: sqlite3.Connection, items: Sequence[BlobWrite | Settle]
    ) -> dict[int, Exception | None]:
        """The group's pins, then each settle in a savepoint of its own, in one transaction;
        one settle's failure is its own, the transaction's fails the whole group."""
        settles = {n: item for n, item in enumerate(items) if isinstance(item, Settle)}
        try:
            self._adopt_in(db)
            _durable(db, bool(settles))
            with db:
                db.execute("BEGIN IMMEDIATE")
                for item in items:
                    if isinstance(item, BlobWrite):
                        _pin(db, item.sha256)
                return {
                    n: in_savepoint(db, partial(_settle, shas=item.shas))
                    for n, item in settles.items()
                }
        # Any failure (the first scan of the blobs on disk too): its callers must not drop
        # pins they may not hold, or they would drop those of the next group's mails.
        except Exception as exc:
            raise PinNotRecorded(f"blob pins and references not recorded: {exc}") from exc
        finally:
            if settles:
                _durable(db, False)

    async def settle(self, shas: Sequence[str]) -> None:
        await self._adopt_once()
        if self._with_writes is not None:
            await self._with_writes.submit(Settle(shas))
        else:
            await self._db.run_grouped(lambda db: _settle(db, shas), durable=True)

    async def release(self, shas: Sequence[str], remove: Remove) -> list[str]:
        """Drop one pin per entry; remove each blob no one holds. Returns those removed."""
        return await self._run(lambda db: _release(db, shas, remove))

    async def remove_unheld(
        self, shas: Sequence[str], grace: timedelta, remove: Remove, *, now: float | None = None
    ) -> list[str]:
        """The sweep: drop pins older than `grace` (a crashed writer's; by this machine's
        clock, which stamped them, or a test's `now`), then remove each of `shas` no one
        holds. Returns those removed."""
        stale_pins_before = (time.time() if now is None else now) - grace.total_seconds()
        return await self._run(lambda db: _remove_unheld(db, shas, stale_pins_before, remove))

    async def forget(
        self, shas: Sequence[str], remove: Remove, *, settled_before: datetime | None = None
    ) -> list[str]:
        """Retention and erasure: drop the references of `shas` and remove each no mail
        is storing right now (a pin keeps the file for that mail), except, with
        `settled_before`, one settled since (another mail's, whose thread's index record
        may still be on its way). Returns those removed."""
        before = float("inf") if settled_before is None else settled_before.timestamp()
        return await self._run(lambda db: _forget(db, shas, remove, before))

    async def is_referenced(self, sha256: str) -> bool:
        return await self._run(
            lambda db: (
                db.execute("SELECT 1 FROM referenced WHERE sha256 = ?", (sha256,)).fetchone()
                is not None
            )
        )

    async def close(self) -> None:
        await self._db.close()

    async def _adopt_once(self) -> None:
        if not self._adopted:
            await self._run(lambda db: None)

    def _adopt_in(self, db: sqlite3.Connection) -> None:
        if not self._adopted:
            _adopt(db, self._existing)
            self._adopted = True

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def adopted_then(db: sqlite3.Connection) -> T:
            self._adopt_in(db)
            return fn(db)

        return await self._db.run(adopted_then)


def _adopt(db: sqlite3.Connection, existing: Callable[[], Iterable[str]]) -> None:
    _durable(db, True)
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("PRAGMA user_version").fetchone()[0] >= ADOPTED:
            return
        now = time.time()
        db.executemany(
            "INSERT OR IGNORE INTO referenced VALUES (?, ?)", ((sha, now) for sha in existing())
        )
        db.execute(f"PRAGMA user_version = {ADOPTED}")


def _durable(db: sqlite3.Connection, durable: bool) -> None:
    """Settled references are fsynced at commit (FULL); pins and removals need not be
    (NORMAL: WAL, fsynced at checkpoints): a pin a power loss forgets went with the mail
    being stored, and a forgotten removal leaves a blob for the sweep. One fsync per mail
    instead of one per blob."""
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")


def _pin(db: sqlite3.Connection, sha256: str) -> None:
    """In a group's transaction (not fsynced unless a settle shares it)."""
    db.execute(
        "INSERT INTO pinned VALUES (?, 1, ?) ON CONFLICT (sha256) "
        "DO UPDATE SET holders = holders + 1, since = excluded.since",
        (sha256, time.time()),
    )


def _unpin(db: sqlite3.Connection, shas: Sequence[str]) -> None:
    db.executemany("UPDATE pinned SET holders = holders - 1 WHERE sha256 = ?", ((s,) for s in shas))
    db.executemany("DELETE FROM pinned WHERE sha256 = ? AND holders <= 0", ((s,) for s in shas))


def _settle(db: sqlite3.Connection, shas: Sequence[str]) -> None:
    """In a group's transaction, committed with synchronous=FULL."""
    now = time.time()
    # `since`: the last settle, so retention leaves a blob another mail settled since
    db.executemany(
        "INSERT INTO referenced VALUES (?, ?) ON CONFLICT (sha256) DO UPDATE SET since = ?",
        ((s, now, now) for s in shas),
    )
    _unpin(db, shas)


def _held(db: sqlite3.Connection, sha256: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM referenced WHERE sha256 = ? UNION ALL "
            "SELECT 1 FROM pinned WHERE sha256 = ?",
            (sha256, sha256),
        ).fetchone()
        is not None
    )


def _release(db: sqlite3.Connection, shas: Sequence[str], remove: Remove) -> list[str]:
    removed = []
    _durable(db, False)
    with db:
        db.execute("BEGIN IMMEDIATE")
        _unpin(db, shas)
        for sha in dict.fromkeys(shas):
            if not _held(db, sha):
                remove(sha)
                removed.append(sha)
    return removed


def _remove_unheld(
    db: sqlite3.Connection, shas: Sequence[str], stale_pins_before: float, remove: Remove
) -> list[str]:
    removed = []
    _durable(db, False)
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM pinned WHERE since < ?", (stale_pins_before,))
        for sha in shas:
            if not _held(db, sha):
                remove(sha)
                removed.append(sha)
    return removed


def _forget(
    db: sqlite3.Connection, shas: Sequence[str], remove: Remove, settled_before: float
) -> list[str]:
    _durable(db, True)  # a reference dropped must stay dropped once the file is gone
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "DELETE FROM referenced WHERE sha256 = ? AND since < ?",
            ((s, settled_before) for s in shas),
        )
        unheld = [sha for sha in dict.fromkeys(shas) if not _held(db, sha)]
        for sha in unheld:
            remove(sha)
    _durable(db, False)
    return unheld
