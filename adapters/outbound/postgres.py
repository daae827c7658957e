"""Shared state in PostgreSQL (MAILROOM_DATABASE_URL): connections and the schema migrations.

Migrations are numbered SQL, applied in order at start and recorded in `schema_migrations`,
so a database is at the version its highest row says. Several nodes may start at once: each
takes one session-level advisory lock around reading the version and applying what is
missing, so exactly one applies a migration and the others then find it recorded. A
migration is never edited once released; a change is a new number.

Connections are opened per call: the stores here (ledger, invoice book, sent log) are called
a few times per mail at most, and a per-call connection survives a database restart or a
failover without a pool to heal.
"""

from __future__ import annotations

from typing import Any

import psycopg

# Any fixed 64-bit number, the same on every node: it names "mailroom's schema" to PostgreSQL.
MIGRATION_LOCK = 0x6D61696C726F6F6D  # "mailroom"
CONNECT_TIMEOUT_SECONDS = 10

MIGRATIONS: tuple[str, ...] = (
    # 1: the purchase-order ledger, its per-year numbering, the invoice book, the sent log
    """
    CREATE TABLE purchase_orders (
        po_key TEXT PRIMARY KEY,
        year INTEGER NOT NULL,
        seq BIGINT NOT NULL,
        thread_id TEXT NOT NULL,
        requester TEXT NOT NULL,
        total DOUBLE PRECISION,
        items JSONB NOT NULL,
        currency TEXT,
        supplier TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        UNIQUE (year, seq)
    );
    CREATE TABLE purchase_order_numbers (
        year INTEGER PRIMARY KEY,
        last_seq BIGINT NOT NULL
    );
    CREATE TABLE invoices (
        seq BIGSERIAL UNIQUE,
        invoice_key TEXT PRIMARY KEY,
        supplier TEXT NOT NULL,
        invoice_number TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        currency TEXT NOT NULL,
        po_number TEXT,
        approved_by TEXT,
        booked_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX invoices_by_po_number ON invoices (po_number, seq);
    CREATE TABLE sent (
        message_id TEXT PRIMARY KEY,
        sent_at TIMESTAMPTZ NOT NULL
    );
    """,
)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached, refuses us, or its schema cannot be brought up."""


Connection = psycopg.Connection[tuple[Any, ...]]
AsyncConnection = psycopg.AsyncConnection[tuple[Any, ...]]


def connect(url: str) -> Connection:
    """Autocommit: each statement commits alone; `with db.transaction():` groups them."""
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)


async def connect_async(url: str) -> AsyncConnection:
    """Autocommit, as `connect`."""
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    )


def migrate(url: str, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Apply the migrations this database lacks, in order; the version it is at now.
    Raise DatabaseUnavailable, with PostgreSQL's own reason, when it cannot."""
    try:
        with connect(url) as db:  # each migration its own transaction, the lock outside them
            db.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                return _apply_missing(db, migrations)
            finally:
                db.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseUnavailable(reason) from error


def _apply_missing(db: Connection, migrations: tuple[str, ...]) -> int:
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    row = db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    current = int(row[0]) if row else 0
    for version, sql in enumerate(migrations, start=1):
        if version <= current:
            continue
        with db.transaction():
            db.execute(sql)  # our own constant SQL, no parameters
            db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        current = version
    return current
