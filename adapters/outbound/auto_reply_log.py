"""The cross-thread automatic-mail log: SQLite in the data dir.

Per machine: workers on several machines each keep their own, so the caps are per worker
machine there (the per-thread cap inside the workflow holds everywhere), unless
MAILROOM_DATABASE_URL puts them in PostgreSQL (postgres_auto_reply_log.py).

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
from use_cases.reply_cap import AutomaticMailCaps, capped_address

SCHEMA = """
DROP TABLE IF EXISTS auto_replies;
CREATE TABLE IF NOT EXISTS automatic_mail (
    message_id TEXT NOT NULL,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    UNIQUE (message_id, address)
);
CREATE INDEX IF NOT EXISTS automatic_mail_by_address ON automatic_mail (address, sent_at);
CREATE INDEX IF NOT EXISTS automatic_mail_by_domain ON automatic_mail (domain, sent_at);
CREATE INDEX IF NOT EXISTS automatic_mail_by_time ON automatic_mail (sent_at);
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
        """Automatic mails counted for the person `recipient` reaches since `since`."""
        address = capped_address(recipient)
        return await self.db.run(
            lambda db: _count(db, "address = ?", (address,), since.isoformat())
        )

    async def reserve(
        self,
        message_id: str,
        recipients: Sequence[str],
        at: datetime,
        caps: AutomaticMailCaps,
        *,
        per_person_only: bool = False,
    ) -> str | None:
        addresses = sorted({capped_address(r) for r in recipients})
        if per_person_only:
            caps = caps.model_copy(update={"per_domain": 2**62, "total": 2**62})
        return await self.db.run(lambda db: self._reserve(db, message_id, addresses, at, caps))

    def _reserve(
        self,
        db: sqlite3.Connection,
        message_id: str,
        addresses: list[str],
        at: datetime,
        caps: AutomaticMailCaps,
    ) -> str | None:
        # IMMEDIATE: the count and the insert are one step for every process on this file,
        # so concurrent sends cannot all see room under a cap.
        db.execute("BEGIN IMMEDIATE")
        try:
            reason = _over(db, message_id, addresses, (at - caps.window).isoformat(), caps)
            if reason is None:
                rows = [(message_id, a, a.rpartition("@")[2], at.isoformat()) for a in addresses]
                db.executemany("INSERT OR IGNORE INTO automatic_mail VALUES (?, ?, ?, ?)", rows)
            if self._trimmed_at is None or at - self._trimmed_at >= TRIM_EVERY:
                db.execute(
                    "DELETE FROM automatic_mail WHERE sent_at < ?", ((at - KEPT_FOR).isoformat(),)
                )
                self._trimmed_at = at
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return reason


def _over(
    db: sqlite3.Connection,
    message_id: str,
    addresses: list[str],
    since: str,
    caps: AutomaticMailCaps,
) -> str | None:
    """Which cap this mail would exceed, or None; a mail counted before (a retry) is None."""
    if _count(db, "message_id = ?", (message_id,), "") > 0:
        return None
    for address in addresses:
        if _count(db, "address = ?", (address,), since) >= caps.per_address:
            return f"{address}: over {caps.per_address} per {caps.window}"
    for domain in sorted({a.rpartition("@")[2] for a in addresses}):
        if _count(db, "domain = ?", (domain,), since) >= caps.per_domain:
            return f"domain {domain}: over {caps.per_domain} per {caps.window}"
    if _count(db, "1 = 1", (), since) >= caps.total:
        return f"over {caps.total} in all per {caps.window}"
    return None


def _count(db: sqlite3.Connection, where: str, args: tuple[str, ...], since: str) -> int:
    """Automatic mails (not recipients) matching `where`, sent at or after `since`."""
    row = db.execute(
        f"SELECT COUNT(DISTINCT message_id) FROM automatic_mail WHERE {where} AND sent_at >= ?",
        (*args, since),
    ).fetchone()
    return int(row[0])
