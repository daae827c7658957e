"""Durable IMAP checkpoints: per account+folder, the UIDVALIDITY, the highest UID handed off and
when the folder was last read through without an error (`mailroom status`); and the quarantine
record: each mail that could never be handed off, where it was moved and why.

UIDs only mean something together with UIDVALIDITY (RFC 3501 §2.3.1.1): when the server
changes it, every UID we remember is void and the folder is scanned again from the start.
SQLite with synchronous=FULL: a checkpoint that was saved survives a crash or power loss.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS imap_checkpoints (
    source TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    fetched_at TEXT
);
CREATE TABLE IF NOT EXISTS imap_quarantine (
    source TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    moved_to TEXT,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (source, uidvalidity, uid)
)
"""
# A file made before the column: added once, on the first connection of a store.
FETCHED_AT_COLUMN = "ALTER TABLE imap_checkpoints ADD COLUMN fetched_at TEXT"
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
# What `mailroom imap --check` lists per source: the most recent ones.
LISTED_QUARANTINED = 20


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Quarantined:
    """A mail set aside: its UID in the source folder, and the folder it now is in (None when
    the server refused the move: it stayed where it was, behind the checkpoint)."""

    uidvalidity: int
    uid: int
    message_id: str
    reason: str
    moved_to: str | None
    at: str = ""

    def line(self) -> str:
        where = f"moved to {self.moved_to}" if self.moved_to else "left in place (move refused)"
        return f"UID {self.uid} {self.message_id} {where} at {self.at}: {self.reason}"


class CheckpointStore(Protocol):
    def load(self, source: str) -> Checkpoint | None: ...

    def save(self, source: str, checkpoint: Checkpoint) -> None: ...

    def quarantine(self, source: str, record: Quarantined) -> None: ...

    def fetched(self, source: str) -> None:
        """The folder was read through without an error just now."""


class SqliteCheckpointStore:
    """One small SQLite file in the data dir; a connection per call, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._columns_checked = False

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(SCHEMA)
        if not self._columns_checked:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(imap_checkpoints)")}
            if "fetched_at" not in columns:
                try:
                    connection.execute(FETCHED_AT_COLUMN)
                except sqlite3.OperationalError as exc:
                    # another process added it meanwhile; anything else (a lock held past
                    # the timeout) is the caller's error now, not "no such column" later
                    if "duplicate column" not in str(exc):
                        raise
            self._columns_checked = True
        return connection

    def load(self, source: str) -> Checkpoint | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT uidvalidity, last_uid FROM imap_checkpoints WHERE source = ?", (source,)
            ).fetchone()
        return Checkpoint(uidvalidity=int(row[0]), last_uid=int(row[1])) if row else None

    def save(self, source: str, checkpoint: Checkpoint) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO imap_checkpoints (source, uidvalidity, last_uid) VALUES (?, ?, ?) "
                "ON CONFLICT(source) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                "last_uid = excluded.last_uid, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (source, checkpoint.uidvalidity, checkpoint.last_uid),
            )

    def fetched(self, source: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                f"UPDATE imap_checkpoints SET fetched_at = {NOW} WHERE source = ?", (source,)
            )

    def last_fetched(self, source: str) -> datetime | None:
        """When `source` was last read through without an error (None: never, or not yet
        recorded; nothing is created when the file is missing)."""
        if not self.path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT fetched_at FROM imap_checkpoints WHERE source = ?", (source,)
            ).fetchone()
        if not row or row[0] is None:
            return None
        return datetime.fromisoformat(str(row[0]).replace("Z", "+00:00"))

    def quarantine(self, source: str, record: Quarantined) -> None:
        """Record a mail set aside (again: the latest reason and folder win)."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO imap_quarantine (source, uidvalidity, uid, message_id, "
                "reason, moved_to) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    source,
                    record.uidvalidity,
                    record.uid,
                    record.message_id,
                    record.reason,
                    record.moved_to,
                ),
            )

    def quarantined(self, source: str, limit: int = LISTED_QUARANTINED) -> list[Quarantined]:
        """The most recent mail set aside from `source`, newest first. `at` counts
        milliseconds, and records made within one tie: the row written last comes first (a
        REPLACE writes its row anew, with the next rowid)."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT uidvalidity, uid, message_id, reason, moved_to, at FROM imap_quarantine "
                "WHERE source = ? ORDER BY at DESC, rowid DESC LIMIT ?",
                (source, limit),
            ).fetchall()
        return [Quarantined(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def quarantined_count(self, source: str) -> int:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT count(*) FROM imap_quarantine WHERE source = ?", (source,)
            ).fetchone()
        return int(row[0])
