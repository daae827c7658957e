"""The IMAP checkpoints and quarantine record (imap_checkpoint.py) in PostgreSQL
(MAILROOM_DATABASE_URL, migration 5; the last fetch, migration 9): a node taking over a source
from another starts from the UID the other handed off last, `mailroom imap --check` on any node
lists what was set aside, and `mailroom status` on any node shows each source's last fetch. A
few calls per poll, from any thread, on the process's pool (postgres_pool). A committed
statement is durable (PostgreSQL's own WAL), as synchronous=FULL is for the file."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.inbound.imap_checkpoint import LISTED_QUARANTINED, Checkpoint, Quarantined
from adapters.outbound.postgres_pool import Database, database


def _shown(at: datetime) -> str:
    """The SQLite store's text form (`2026-01-02T03:04:05.678Z`), so both list alike."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PostgresCheckpointStore:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL."""
        self.db = database(target)

    def load(self, source: str) -> Checkpoint | None:
        with self.db.connection() as db:
            row = db.execute(
                "SELECT uidvalidity, last_uid FROM imap_checkpoints WHERE source = %s", (source,)
            ).fetchone()
        return Checkpoint(uidvalidity=int(row[0]), last_uid=int(row[1])) if row else None

    def save(self, source: str, checkpoint: Checkpoint) -> None:
        with self.db.connection() as db:
            db.execute(
                "INSERT INTO imap_checkpoints (source, uidvalidity, last_uid) VALUES (%s, %s, %s)"
                " ON CONFLICT (source) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
                " last_uid = excluded.last_uid, updated_at = now()",
                (source, checkpoint.uidvalidity, checkpoint.last_uid),
            )

    def fetched(self, source: str) -> None:
        with self.db.connection() as db:
            db.execute(
                "UPDATE imap_checkpoints SET fetched_at = clock_timestamp() WHERE source = %s",
                (source,),
            )

    def last_fetched(self, source: str) -> datetime | None:
        """When `source` was last read through without an error (None: never)."""
        with self.db.connection() as db:
            row = db.execute(
                "SELECT fetched_at FROM imap_checkpoints WHERE source = %s", (source,)
            ).fetchone()
        return row[0] if row and row[0] is not None else None

    def quarantine(self, source: str, record: Quarantined) -> None:
        """Record a mail set aside (again: the latest reason and folder win)."""
        with self.db.connection() as db:
            db.execute(
                "INSERT INTO imap_quarantine (source, uidvalidity, uid, message_id, reason,"
                " moved_to) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (source, uidvalidity,"
                " uid) DO UPDATE SET message_id = excluded.message_id, reason = excluded.reason,"
                " moved_to = excluded.moved_to, at = clock_timestamp()",
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
        """The most recent mail set aside from `source`, newest first."""
        with self.db.connection() as db:
            rows = db.execute(
                "SELECT uidvalidity, uid, message_id, reason, moved_to, at FROM imap_quarantine"
                " WHERE source = %s ORDER BY at DESC, uid DESC LIMIT %s",
                (source, limit),
            ).fetchall()
        return [Quarantined(int(r[0]), int(r[1]), r[2], r[3], r[4], _shown(r[5])) for r in rows]

    def quarantined_count(self, source: str) -> int:
        with self.db.connection() as db:
            row = db.execute(
                "SELECT count(*) FROM imap_quarantine WHERE source = %s", (source,)
            ).fetchone()
        return int(row[0]) if row else 0
