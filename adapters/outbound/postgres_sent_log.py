"""The relay's sent log in PostgreSQL (MAILROOM_DATABASE_URL): a Message-ID sent from any
node is known to every node, so a send retried on another host finds it and sends nothing;
and what each mail was (From, To, Subject, threading headers), so `mailroom outbox` lists
every node's relayed mail from any node.

Called twice per relayed mail from the sender's threads, on the process's threaded pool
(postgres_pool): no connect per call (~3 ms each), and a connection lost to a database restart
is replaced before it is lent."""

from __future__ import annotations

from datetime import UTC

from psycopg.types.json import Jsonb

from adapters.outbound.outbox_entry import logged_entry
from adapters.outbound.postgres_pool import Database, database
from use_cases.mail import OutboxEntry

COLUMNS = "message_id, sent_at, from_addr, to_addrs, subject, in_reply_to, refs, reply_to"


class PostgresSentLog:
    def __init__(self, target: str | Database) -> None:
        """`target`: the process's shared pool (orchestrator/stores.py), or a URL."""
        self.db = database(target)

    def was_sent(self, message_id: str) -> bool:
        with self.db.connection() as db:
            query = "SELECT 1 FROM sent WHERE message_id = %s"
            return db.execute(query, (message_id,)).fetchone() is not None

    def record(self, entry: OutboxEntry) -> None:
        with self.db.connection() as db:
            db.execute(
                f"INSERT INTO sent ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (message_id) DO NOTHING",
                (
                    entry.message_id,
                    entry.sent_at,
                    entry.from_addr,
                    Jsonb(entry.to),
                    entry.subject,
                    entry.in_reply_to,
                    Jsonb(entry.references),
                    entry.reply_to,
                ),
            )

    def entries(self) -> list[OutboxEntry]:
        with self.db.connection() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM sent ORDER BY sent_at, message_id")
            return [
                logged_entry(message_id, sent_at.astimezone(UTC), *details)
                for message_id, sent_at, *details in rows.fetchall()
            ]
