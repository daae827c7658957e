"""The cross-thread automatic-reply log: SQLite in the data dir.

Per machine: workers on several machines each keep their own, so the cap is per worker
there (the per-thread cap inside the workflow holds everywhere).

Every automatic mail reads and writes it, so it keeps one connection, used from one
thread: opening a connection per call (schema checks, a rollback journal, page cache
built anew) cost ~0.6 ms of worker CPU per mail and, with calls in flight on several pool
threads, one page cache each. WAL with synchronous=NORMAL: a process crash loses nothing,
a power loss at most the last few records, which only lets a robot get a few more
automatic mails in the hour after it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

SCHEMA = "CREATE TABLE IF NOT EXISTS auto_replies (recipient TEXT NOT NULL, sent_at TEXT NOT NULL)"
INDEX = "CREATE INDEX IF NOT EXISTS auto_replies_by_recipient ON auto_replies (recipient, sent_at)"
# Nothing older than a day matters to an hourly cap; trimming scans the table, so not on
# every insert.
KEPT_FOR = timedelta(days=1)
TRIM_EVERY = timedelta(minutes=5)

T = TypeVar("T")


class SqliteAutoReplyLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        # One thread owns the connection: calls queue there instead of each taking a pool
        # thread and a connection of its own.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auto-reply-log")
        self._trimmed_at: datetime | None = None

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(self._connection()))

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(SCHEMA)
            db.execute(INDEX)
            self._db = db
        return self._db

    async def sent_since(self, recipient: str, since: datetime) -> int:
        return await self._call(lambda db: _count(db, recipient.lower(), since))

    async def record(self, recipients: Sequence[str], at: datetime) -> None:
        lowered = [r.lower() for r in recipients]
        await self._call(lambda db: self._record(db, lowered, at))

    def _record(self, db: sqlite3.Connection, recipients: list[str], at: datetime) -> None:
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO auto_replies VALUES (?, ?)", [(r, at.isoformat()) for r in recipients]
            )
            if self._trimmed_at is None or at - self._trimmed_at >= TRIM_EVERY:
                cutoff = (at - KEPT_FOR).isoformat()
                db.execute("DELETE FROM auto_replies WHERE sent_at < ?", (cutoff,))
                self._trimmed_at = at


def _count(db: sqlite3.Connection, recipient: str, since: datetime) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM auto_replies WHERE recipient = ? AND sent_at >= ?",
        (recipient, since.isoformat()),
    ).fetchone()
    return int(row[0])
