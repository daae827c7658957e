"""Which backend keeps the state nodes must share (ledger, invoice book, sent log, thread
index, automatic-mail caps, blobs): SQLite files in the data directory (the embedded
default), or PostgreSQL when MAILROOM_DATABASE_URL is set, its schema migrated here before
anything uses it, every adapter on one pool of connections per process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.outbound.auto_reply_log import SqliteAutoReplyLog
from adapters.outbound.blob_store import REFERENCES_FILE, FileBlobStore, blobs_under
from adapters.outbound.invoice_book import SqliteInvoiceBook
from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.postgres import DatabaseUnavailable, migrate
from adapters.outbound.postgres_auto_reply_log import PostgresAutoReplyLog
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.postgres_invoice_book import PostgresInvoiceBook
from adapters.outbound.postgres_ledger import PostgresLedger
from adapters.outbound.postgres_pool import Database
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.postgres_shared_secret import shared_secret
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.smtp_sender import MessageLog, SentLog
from adapters.outbound.thread_index import SqliteThreadIndex
from orchestrator.settings import Settings
from orchestrator.settings_checks import masked_url
from orchestrator.startup_checks import StartupError
from use_cases.invoices import InvoiceBook

Ledger = SqliteLedger | PostgresLedger  # the port plus the listing `mailroom pos` reads


@dataclass(frozen=True)
class Stores:
    ledger: Ledger
    invoice_book: InvoiceBook
    sent_log: MessageLog
    thread_index: SqliteThreadIndex | PostgresThreadIndex  # closed at shutdown
    auto_replies: SqliteAutoReplyLog | PostgresAutoReplyLog  # closed at shutdown
    database: Database | None = None  # the process's pool, closed at shutdown


def stores(settings: Settings) -> Stores:
    """The shared-state adapters the settings choose; raise StartupError (one line) when the
    database cannot be reached or its schema cannot be brought up."""
    url = settings.database_url
    if not url:
        data = settings.data_dir
        return Stores(
            ledger=SqliteLedger(data / "ledger.sqlite"),
            invoice_book=SqliteInvoiceBook(data / "ledger.sqlite"),
            sent_log=SentLog(data / "sent.sqlite"),
            thread_index=SqliteThreadIndex(data / "threads.sqlite"),
            auto_replies=SqliteAutoReplyLog(data / "auto_replies.sqlite"),
        )
    try:
        migrate(url)
    except DatabaseUnavailable as exc:
        raise _startup_error(url, exc) from None
    database = Database(url, settings.database_pool_size)
    return Stores(
        ledger=PostgresLedger(database),
        invoice_book=PostgresInvoiceBook(database),
        sent_log=PostgresSentLog(database),
        thread_index=PostgresThreadIndex(database),
        auto_replies=PostgresAutoReplyLog(database),
        database=database,
    )


def blob_store(settings: Settings, database: Database | None) -> FileBlobStore | PostgresBlobStore:
    """MAILROOM_BLOB_DIR (a directory every node mounts: its references in the shared
    database when there is one), else the shared database (`stores`' pool), else
    `<data dir>/blobs`. Every one seals what it stores (orchestrator/blob_keys.py)."""
    # here, not at the top: blob_keys reads the keys the database shares through this module
    from orchestrator.blob_keys import blob_sealing

    sealing = blob_sealing(settings)
    directory = settings.blob_dir
    if directory is None:
        if database is not None:
            return PostgresBlobStore(database, sealing=sealing)
        return FileBlobStore(settings.data_dir / "blobs", sealing=sealing)
    if database is None:  # one node: its references in its data directory
        references: Path | PostgresBlobReferences = settings.data_dir / REFERENCES_FILE
    else:  # nodes sharing the directory share the references too (SQLite cannot be on NFS)
        references = PostgresBlobReferences(database, lambda: blobs_under(directory))
    return FileBlobStore(directory, references=references, sealing=sealing)


def database_key(url: str, name: str) -> bytes:
    """The key `name` every node naming this (migrated) database shares, made by the first;
    raise StartupError (one line, password masked) when the database cannot be read."""
    try:
        return shared_secret(url, name)
    except DatabaseUnavailable as exc:
        raise _startup_error(url, exc) from None


def _startup_error(url: str, exc: DatabaseUnavailable) -> StartupError:
    shown = " ".join(str(exc).replace(url, masked_url(url)).split())
    return StartupError(f"MAILROOM_DATABASE_URL: {shown}")
