"""Each shared-state port's contract, run against both backends: SQLite files in a temp dir
(the embedded default) and a fresh database on the session's PostgreSQL (migrated as at
start). A store factory gives a new adapter on the same data each call: two calls are two
nodes (or two processes) sharing one store. Stores that keep a connection open
(thread index, auto-reply log) are closed by the test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.postgres_imap_checkpoint import PostgresCheckpointStore
from adapters.outbound.auto_reply_log import SqliteAutoReplyLog
from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_auto_reply_log import PostgresAutoReplyLog
from adapters.outbound.postgres_invoice_book import PostgresInvoiceBook
from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.smtp_sender import SentLog
from adapters.outbound.thread_index import SqliteThreadIndex

Stores = Callable[[str], Any]  # a port's name -> a new adapter for it on this backend's data


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    if request.param == "sqlite":
        sqlite: dict[str, Callable[[], Any]] = {
            "ledger": lambda: SqliteLedger(tmp_path / "ledger.sqlite"),
            "invoice_book": lambda: SqliteInvoiceBook(tmp_path / "ledger.sqlite"),
            "sent_log": lambda: SentLog(tmp_path / "sent.sqlite"),
            "thread_index": lambda: SqliteThreadIndex(tmp_path / "threads.sqlite"),
            "auto_reply_log": lambda: SqliteAutoReplyLog(tmp_path / "auto_replies.sqlite"),
            "imap_checkpoints": lambda: SqliteCheckpointStore(tmp_path / "imap.sqlite"),
        }
        return lambda port: sqlite[port]()
    url = request.getfixturevalue("postgres_url")
    migrate(url)
    postgres: dict[str, Callable[[], Any]] = {
        "ledger": lambda: PostgresLedger(url),
        "invoice_book": lambda: PostgresInvoiceBook(url),
        "sent_log": lambda: PostgresSentLog(url),
        "thread_index": lambda: PostgresThreadIndex(url),
        "auto_reply_log": lambda: PostgresAutoReplyLog(url),
        "imap_checkpoints": lambda: PostgresCheckpointStore(url),
    }
    return lambda port: postgres[port]()
