"""The relay's sent log in PostgreSQL (MAILROOM_DATABASE_URL): a Message-ID sent from any
node is known to every node, so a send retried on another host finds it and sends nothing.

Called twice per relayed mail from the sender's threads, on the process's threaded pool
(postgres_pool): no connect per call (~3 ms each), and a connection lost to a database restart
is replaced before it is lent."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.outbound.postgres_pool import Database, database


class PostgresSentLog:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL."""
        self.db = database(target)

    def was_sent(self, message_id: str) -> bool:
        with self.db.connection() as db:
            query = "SELECT 1 FROM sent WHERE message_id = %s"
            return db.execute(query, (message_id,)).fetchone() is not None

    def record(self, message_id: str) -> None:
        with self.db.connection() as db:
            db.execute(
                "INSERT INTO sent (message_id, sent_at) VALUES (%s, %s) "
                "ON CONFLICT (message_id) DO NOTHING",
                (message_id, datetime.now(UTC)),
            )
