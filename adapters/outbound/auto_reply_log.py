"""The cross-thread automatic-reply log: SQLite in the data dir.

Per machine: workers on several machines each keep their own, so the cap is per worker
there (the per-thread cap inside the workflow holds everywhere).

Every automatic mail reads and writes it, so it keeps one connection (SqliteConnection).
A power loss may forget the last few records, which only lets a robot get a few more
automatic mails in the hour after it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from adapters.outbound.sqlite_connection import SqliteConnection

SCHEMA = """
CREATE TABLE IF NOT EXISTS auto_replies (recipient TEXT NOT NULL, sent_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS auto_replies_by_recipient ON auto_replies (recipient, sent_at);
"""
# Nothing older than a day matters to an hourly cap; trimming scans the table, so not on
# every insert.
KEPT_FOR = timedelta(days=1)
TRIM_EVERY = timedelta(minutes=5)


class SqliteAutoReplyLog:
    def __init__(self, path: Path) -> None:
        self.db = SqliteConnection(path, SCHEMA)
        self._trimmed_at: datetime | None = None

    async def close(self) -> None:
        await self.db.close()

    async def sent_since(self, recipient: str, since: datetime) -> int:
        return await self.db.run(lambda db: _count(db, recipient.lower(), since))

    async def record(self, recipients: Sequence[str], at: datetime) -> None:
        lowered = [r.lower() for r in recipients]
        await self.db.run(lambda db: self._record(db, lowered, at))

    def _record(self, db: sqlite3.Connection, recipients: list[str], at: datetime) -> None:
        with db:
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
