"""ThreadIndex in SQLite under the data dir: Message-ID → thread, and recent subjects.

WAL mode so the SMTP and IMAP adapters (and several processes) read while one writes.
A connection per call, run in a worker thread: sqlite3 connections are bound to a thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from use_cases.models import ThreadEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL, workflow_id TEXT NOT NULL,
    PRIMARY KEY (mailbox, message_id));
CREATE TABLE IF NOT EXISTS threads (
    mailbox TEXT NOT NULL, workflow_id TEXT NOT NULL, subject_key TEXT NOT NULL,
    participants TEXT NOT NULL, last_at TEXT NOT NULL,
    PRIMARY KEY (mailbox, workflow_id));
CREATE INDEX IF NOT EXISTS threads_by_subject ON threads (mailbox, subject_key, last_at);
"""
LOOKUP_CHUNK = 500
MAX_PARTICIPANTS = 200


class SqliteThreadIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        if not self._ready:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            self._ready = True
        return db

    async def threads_of(self, message_ids: Sequence[str], mailbox: str) -> dict[str, str]:
        return await asyncio.to_thread(self._threads_of, list(message_ids), mailbox)

    async def record(self, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
        await asyncio.to_thread(self._record, mailbox, workflow_id, entry)

    async def by_subject(
        self, mailbox: str, subject_key: str, since: datetime
    ) -> list[ThreadEntry]:
        return await asyncio.to_thread(self._by_subject, mailbox, subject_key, since)

    def _threads_of(self, message_ids: list[str], mailbox: str) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._connect() as db:
            for start in range(0, len(message_ids), LOOKUP_CHUNK):
                chunk = message_ids[start : start + LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT message_id, workflow_id FROM messages "
                    f"WHERE mailbox = ? AND message_id IN ({marks})",
                    (mailbox, *chunk),
                )
                found.update(rows.fetchall())
        return found

    def _record(self, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?)",
                [(mailbox, m, workflow_id) for m in entry.message_ids],
            )
            row = db.execute(
                "SELECT subject_key, participants FROM threads "
                "WHERE mailbox = ? AND workflow_id = ?",
                (mailbox, workflow_id),
            ).fetchone()
            people = json.loads(row[1]) if row else []
            people = list(dict.fromkeys([*people, *entry.participants]))[:MAX_PARTICIPANTS]
            subject = row[0] if row and row[0] else entry.subject_key
            db.execute(
                "INSERT OR REPLACE INTO threads VALUES (?, ?, ?, ?, ?)",
                (
                    mailbox,
                    workflow_id,
                    subject,
                    json.dumps(people),
                    entry.at.astimezone(UTC).isoformat(),
                ),
            )

    def _by_subject(self, mailbox: str, subject_key: str, since: datetime) -> list[ThreadEntry]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT workflow_id, participants, last_at FROM threads "
                "WHERE mailbox = ? AND subject_key = ? AND last_at >= ? "
                "ORDER BY last_at DESC LIMIT 20",
                (mailbox, subject_key, since.astimezone(UTC).isoformat()),
            ).fetchall()
        return [
            ThreadEntry(
                workflow_id=workflow_id,
                subject_key=subject_key,
                participants=tuple(json.loads(people)),
                at=datetime.fromisoformat(at),
            )
            for workflow_id, people, at in rows
        ]
