"""One SQLite connection, owned by one thread, for an adapter called from the event loop.

The adapters on the hot path (the thread index on every received mail, the auto-reply log
on every automatic mail) would pay, with a connection per call, ~0.3 to 0.6 ms of CPU each
time for the schema checks, the connect and a cold page cache, and calls in flight on
several pool threads would hold a page cache each. Here calls queue to the one thread that owns
the connection (sqlite3 connections are bound to their thread); each call is a short
indexed statement, so the queue never grows long at mail rates. The calls that queue while
the thread is busy go together in its next trip (group_commit), each in turn as alone:
a trip costs the event loop ~0.1 ms of CPU, more than most calls.

WAL, so other processes (the SMTP and IMAP adapters, `mailroom replay`) read while one
writes, with synchronous=NORMAL: a crash of the process loses no committed write; a power
loss may lose the last commits, which is acceptable only for data that can be missing
(say so where it is used). `close()` at shutdown checkpoints the WAL into the database and
removes it (SQLite does so when the last connection closes), so a stopped installation is
one file per store.

`run_grouped` is the group commit for small writes on the hot path (the blob store's pins and
settles): the calls that queue while a transaction is being written go together in the next
one, each in a savepoint of its own (a failing one is rolled back alone), with one commit,
fsynced (synchronous=FULL) when any of them asks for it, and one trip to the thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from adapters.outbound.group_commit import GroupCommit

T = TypeVar("T")
Item = TypeVar("Item")
# A statement-only write (no `with db:`, no commit: the group commits) and whether its commit
# must be fsynced.
Grouped = tuple[Callable[[sqlite3.Connection], Any], bool]


class StoreClosed(RuntimeError):
    """A call after the store was closed (at shutdown)."""


BUSY_TIMEOUT_SECONDS = 30


class SqliteConnection:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.stem}")
        self._group: GroupCommit[Grouped, Any] = GroupCommit(self._thread, self._commit_group)
        # Calls that queue while the thread is busy go in its next trip, one after the
        # other, each as it would alone: one hand-over and one wake-up of the loop for all.
        self._calls: GroupCommit[Callable[[sqlite3.Connection], Any], Any] = GroupCommit(
            self._thread, self._run_each
        )
        self._groups: list[GroupCommit[Any, Any]] = [self._calls, self._group]

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` on the connection's thread. Use `with db:` around writes: it
        commits, or rolls back on an exception."""
        if self._closed:
            raise StoreClosed(f"{self.path.name} is closed")
        result: T = await self._calls.submit(fn)
        return result

    async def run_grouped(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool) -> T:
        """`fn(connection)` inside a transaction shared with concurrent calls; returns once
        that transaction is committed (and fsynced, if `durable`). `fn` runs statements
        only: the group begins and commits."""
        if self._closed:
            raise StoreClosed(f"{self.path.name} is closed")
        result: T = await self._group.submit((fn, durable))
        return result

    def group(
        self,
        process: Callable[[sqlite3.Connection, Sequence[Item]], Sequence[T | BaseException]],
    ) -> GroupCommit[Item, T]:
        """A group commit of the caller's own on this connection's thread: `process` gets
        the connection and the items that queued together (and does its own transactions).
        Closing the connection waits for it too."""
        grouped: GroupCommit[Item, T] = GroupCommit(
            self._thread, lambda items: process(self._connection(), items)
        )
        self._groups.append(grouped)
        return grouped

    def _run_each(self, calls: Sequence[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        db = self._connection()
        return [_outcome(fn, db) for fn in calls]

    def _commit_group(self, group: Sequence[Grouped]) -> list[Any]:
        db = self._connection()
        durable = any(wants_fsync for _, wants_fsync in group)
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute("BEGIN IMMEDIATE")
            outcomes = [in_savepoint(db, fn) for fn, _ in group]
            db.commit()
        except BaseException:
            db.rollback()
            raise  # the whole group fails: no caller is told its write is done
        finally:
            if durable:
                db.execute("PRAGMA synchronous=NORMAL")
        return outcomes

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
            _into_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(self.schema)
            self._db = db
        return self._db

    async def close(self) -> None:
        """Close the connection on its thread, after the calls already queued; later calls
        fail at once with StoreClosed (none can queue behind the close: nothing awaits
        between the two lines that queue it and stop the thread). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for grouped in self._groups:
            await grouped.drained()
        closing = asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=False)  # the queue drains on the thread, not on our loop
        await closing

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _outcome(fn: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T | Exception:
    try:
        return fn(db)
    except Exception as exc:  # this call's alone
        return exc


def in_savepoint(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T | Exception:
    db.execute("SAVEPOINT grouped")
    try:
        result = fn(db)
    except Exception as exc:  # this call's alone: its statements are undone, the group goes on
        db.execute("ROLLBACK TO grouped")
        db.execute("RELEASE grouped")
        return exc
    db.execute("RELEASE grouped")
    return result


# Switching a new file to WAL needs it to itself: SQLite answers "database is locked" at
# once, without its busy timeout, when another connection (another node's adapter opening
# the same new file) is doing the same. Tried again, briefly, until one of them has.
WAL_ATTEMPTS = 50
WAL_RETRY_SECONDS = 0.02


def _into_wal(db: sqlite3.Connection) -> None:
    for attempt in range(WAL_ATTEMPTS):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(WAL_RETRY_SECONDS * (1 + attempt % 5))
