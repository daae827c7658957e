"""The relay's sent log in PostgreSQL (MAILROOM_DATABASE_URL): a Message-ID sent from any
node is known to every node, so a send retried on another host finds it and sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.outbound.postgres import connect


class PostgresSentLog:
    def __init__(self, url: str) -> None:
        self.url = url

    def was_sent(self, message_id: str) -> bool:
        with connect(self.url) as db:
            query = "SELECT 1 FROM sent WHERE message_id = %s"
            return db.execute(query, (message_id,)).fetchone() is not None

    def record(self, message_id: str) -> None:
        with connect(self.url) as db:
            db.execute(
                "INSERT INTO sent (message_id, sent_at) VALUES (%s, %s) "
                "ON CONFLICT (message_id) DO NOTHING",
                (message_id, datetime.now(UTC)),
            )
