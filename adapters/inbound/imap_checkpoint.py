"""Durable IMAP checkpoints: per account+folder, the UIDVALIDITY and the highest UID handed off.

UIDs only mean something together with UIDVALIDITY (RFC 3501 §2.3.1.1): when the server
changes it, every UID we remember is void and the folder is scanned again from the start.
SQLite with synchronous=FULL: a checkpoint that was saved survives a crash or power loss.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS imap_checkpoints (
    source TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


class CheckpointStore(Protocol):
    def load(self, source: str) -> Checkpoint | None: ...

    def save(self, source: str, checkpoint: Checkpoint) -> None: ...


class SqliteCheckpointStore:
    """One small SQLite file in the data dir; a connection per call, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(SCHEMA)
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
