"""ThreadIndex in SQLite under the data dir: Message-ID → thread, and recent subjects.

`messages` also holds the ids a placed message only referenced, under keys that start with
`mentioned:` (use_cases.threading.MENTION), so they never collide with a Message-ID. `refs`
maps a ticket reference to every thread recorded with it (a table of its own, created on
an index of an older version too: threads placed before it are learnt with their next mail),
so a reference two threads share is seen to be ambiguous.

One connection (SqliteConnection), as every received mail reads and writes it. A power
loss may forget the last moments' entries: a reply to such a mail still finds its thread by
its reply token or by the root of its References, which key the thread; the index only adds
what a broken References chain or an Outlook conversation needs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from adapters.outbound.sqlite_connection import SqliteConnection
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
CREATE TABLE IF NOT EXISTS refs (
    mailbox TEXT NOT NULL, reference TEXT NOT NULL, workflow_id TEXT NOT NULL,
    PRIMARY KEY (mailbox, reference, workflow_id));
CREATE TABLE IF NOT EXISTS thread_blobs (
    workflow_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (workflow_id, sha256)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thread_blobs_by_sha ON thread_blobs (sha256);
"""
LOOKUP_CHUNK = 500
MAX_PARTICIPANTS = 200


class SqliteThreadIndex:
    def __init__(self, path: Path) -> None:
        self.db = SqliteConnection(path, SCHEMA)

    async def close(self) -> None:
        await self.db.close()

    async def threads_of(self, message_ids: Sequence[str], mailbox: str) -> dict[str, str]:
        ids = list(message_ids)
        return await self.db.run(lambda db: _threads_of(db, ids, mailbox))

    async def record(self, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
        await self.db.run(lambda db: _record(db, mailbox, workflow_id, entry))

    async def by_subject(
        self, mailbox: str, subject_key: str, since: datetime
    ) -> list[ThreadEntry]:
        return await self.db.run(lambda db: _by_subject(db, mailbox, subject_key, since))

    async def threads_with_reference(self, mailbox: str, reference: str) -> list[str]:
        return await self.db.run(lambda db: _threads_with_reference(db, mailbox, reference))


def _threads_with_reference(db: sqlite3.Connection, mailbox: str, reference: str) -> list[str]:
    rows = db.execute(
        "SELECT workflow_id FROM refs WHERE mailbox = ? AND reference = ? LIMIT 2",
        (mailbox, reference),
    )
    return [workflow_id for (workflow_id,) in rows.fetchall()]


def _threads_of(db: sqlite3.Connection, message_ids: list[str], mailbox: str) -> dict[str, str]:
    found: dict[str, str] = {}
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


def _record(db: sqlite3.Connection, mailbox: str, workflow_id: str, entry: ThreadEntry) -> None:
    with db:
        # The write lock first: a deferred transaction that reads the thread's row before its
        # first write fails at once ("database is locked") when another process writes too.
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?)",
            [(mailbox, m, workflow_id) for m in entry.message_ids],
        )
        db.executemany(
            "INSERT OR IGNORE INTO thread_blobs VALUES (?, ?)",
            [(workflow_id, sha) for sha in entry.blobs],
        )
        if entry.reference:
            db.execute(
                "INSERT OR IGNORE INTO refs VALUES (?, ?, ?)",
                (mailbox, entry.reference, workflow_id),
            )
        row = db.execute(
            "SELECT subject_key, participants FROM threads WHERE mailbox = ? AND workflow_id = ?",
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


def _by_subject(
    db: sqlite3.Connection, mailbox: str, subject_key: str, since: datetime
) -> list[ThreadEntry]:
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
