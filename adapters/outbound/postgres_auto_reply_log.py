"""The cross-thread automatic-mail log in PostgreSQL (MAILROOM_DATABASE_URL): the caps per
person, per domain and in all hold across every node, not per machine.

The count and the insert are one step for every node: each reservation runs in a
transaction holding one advisory lock (as SqliteAutoReplyLog's BEGIN IMMEDIATE serialises
the processes on its file), so concurrent sends on several nodes cannot all see room under a
cap. On the process's pool (postgres_pool), as every automatic mail reads and writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.outbound.auto_reply_log import KEPT_FOR, TRIM_EVERY
from adapters.outbound.postgres import AsyncConnection
from adapters.outbound.postgres_pool import Database, database
from use_cases.reply_cap import AutomaticMailCaps, capped_address

# Any fixed number, the same on every node: "the automatic-mail caps" to PostgreSQL.
CAPS_LOCK = 0x6D61696C6361707A  # "mailcapz"


class PostgresAutoReplyLog:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL (a pool
        of its own, closed by `close`)."""
        self.db = database(target)
        self._owns_db = not isinstance(target, Database)
        self._trimmed_at: datetime | None = None

    async def close(self) -> None:
        if self._owns_db:
            await self.db.close()

    async def sent_since(self, recipient: str, since: datetime) -> int:
        """Automatic mails counted for the person `recipient` reaches since `since`."""
        address = capped_address(recipient)
        return await self.db.run(lambda db: _count(db, "address = %s", (address,), since))

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

    async def _reserve(
        self,
        db: AsyncConnection,
        message_id: str,
        addresses: list[str],
        at: datetime,
        caps: AutomaticMailCaps,
    ) -> str | None:
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(%s)", (CAPS_LOCK,))
            reason = await _over(db, message_id, addresses, at - caps.window, caps)
            if reason is None:
                rows = [(message_id, a, a.rpartition("@")[2], at) for a in addresses]
                async with db.cursor() as cursor:
                    await cursor.executemany(
                        "INSERT INTO automatic_mail VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        rows,
                    )
            if self._trimmed_at is None or at - self._trimmed_at >= TRIM_EVERY:
                await db.execute("DELETE FROM automatic_mail WHERE sent_at < %s", (at - KEPT_FOR,))
                self._trimmed_at = at
        return reason


async def _over(
    db: AsyncConnection,
    message_id: str,
    addresses: list[str],
    since: datetime,
    caps: AutomaticMailCaps,
) -> str | None:
    """Which cap this mail would exceed, or None; a mail counted before (a retry) is None."""
    if await _count(db, "message_id = %s", (message_id,), None) > 0:
        return None
    for address in addresses:
        if await _count(db, "address = %s", (address,), since) >= caps.per_address:
            return f"{address}: over {caps.per_address} per {caps.window}"
    for domain in sorted({a.rpartition("@")[2] for a in addresses}):
        if await _count(db, "domain = %s", (domain,), since) >= caps.per_domain:
            return f"domain {domain}: over {caps.per_domain} per {caps.window}"
    if await _count(db, "TRUE", (), since) >= caps.total:
        return f"over {caps.total} in all per {caps.window}"
    return None


async def _count(
    db: AsyncConnection, where: str, args: tuple[str, ...], since: datetime | None
) -> int:
    """Automatic mails (not recipients) matching `where`, sent at or after `since` (None: ever)."""
    query = f"SELECT COUNT(DISTINCT message_id) FROM automatic_mail WHERE {where}"
    params: tuple[object, ...] = args
    if since is not None:
        query, params = f"{query} AND sent_at >= %s", (*args, since)
    row = await (await db.execute(query, params)).fetchone()
    return int(row[0]) if row else 0
