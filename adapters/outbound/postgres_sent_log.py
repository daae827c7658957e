"""The relay's sent log in PostgreSQL (MAILROOM_DATABASE_URL): a Message-ID sent from any
node is known to every node, so a send retried on another host finds it and sends nothing.

Called twice per relayed mail from the sender's threads: one connection, one statement at a
time (a lock), opened again after it breaks, instead of a connect per call (~3 ms each)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import psycopg

from adapters.outbound.postgres import Connection, connect

T = TypeVar("T")


class PostgresSentLog:
    def __init__(self, url: str) -> None:
        self.url = url
        self._db: Connection | None = None
        self._lock = threading.Lock()

    def was_sent(self, message_id: str) -> bool:
        query = "SELECT 1 FROM sent WHERE message_id = %s"
        return self._run(lambda db: db.execute(query, (message_id,)).fetchone() is not None)

    def record(self, message_id: str) -> None:
        self._run(
            lambda db: db.execute(
                "INSERT INTO sent (message_id, sent_at) VALUES (%s, %s) "
                "ON CONFLICT (message_id) DO NOTHING",
                (message_id, datetime.now(UTC)),
            )
        )

    def _run(self, fn: Callable[[Connection], T]) -> T:
        with self._lock:
            if self._db is None or self._db.closed:
                self._db = connect(self.url)
            try:
                return fn(self._db)
            except psycopg.OperationalError:
                self._db.close()
                self._db = None
                raise
