"""The cross-thread automatic-reply log: SQLite in the data dir.

Per machine: workers on several machines each keep their own, so the cap is per worker
there (the per-thread cap inside the workflow holds everywhere)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

SCHEMA = "CREATE TABLE IF NOT EXISTS auto_replies (recipient TEXT NOT NULL, sent_at TEXT NOT NULL)"
INDEX = "CREATE INDEX IF NOT EXISTS auto_replies_by_recipient ON auto_replies (recipient, sent_at)"


class SqliteAutoReplyLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(SCHEMA)
        db.execute(INDEX)
        return db

    async def sent_since(self, recipient: str, since: datetime) -> int:
        return await asyncio.to_thread(self._count, recipient.lower(), since)

    def _count(self, recipient: str, since: datetime) -> int:
        with self._connect() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM auto_replies WHERE recipient = ? AND sent_at >= ?",
                (recipient, since.isoformat()),
            ).fetchone()
        return int(row[0])

    async def record(self, recipients: Sequence[str], at: datetime) -> None:
        await asyncio.to_thread(self._record, [r.lower() for r in recipients], at)

    def _record(self, recipients: list[str], at: datetime) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT INTO auto_replies VALUES (?, ?)", [(r, at.isoformat()) for r in recipients]
            )
            # keep the table small: nothing older than a day matters to an hourly cap
            db.execute(
                "DELETE FROM auto_replies WHERE sent_at < datetime(?, '-1 day')", (at.isoformat(),)
            )
