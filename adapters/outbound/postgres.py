"""Shared state in PostgreSQL (MAILROOM_DATABASE_URL): connections and the schema migrations.

Migrations are numbered SQL, applied in order at start and recorded in `schema_migrations`,
so a database is at the version its highest row says. Several nodes may start at once: each
takes one session-level advisory lock around reading the version and applying what is
missing, so exactly one applies a migration and the others then find it recorded. A
migration is never edited once released; a change is a new number.

The adapters borrow their connections from the process's pool (postgres_pool.Database);
`connect` here is for the one-off calls of start-up (migrations, the shared secret, doctor).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import psycopg
from psycopg.abc import Buffer
from psycopg.types.json import set_json_dumps
from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

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
    # 2: the thread index (Message-ID -> thread, ticket references, subjects)
    """
    CREATE TABLE thread_messages (
        mailbox TEXT NOT NULL, message_id TEXT NOT NULL, workflow_id TEXT NOT NULL,
        PRIMARY KEY (mailbox, message_id)
    );
    CREATE TABLE threads (
        mailbox TEXT NOT NULL, workflow_id TEXT NOT NULL, subject_key TEXT NOT NULL,
        participants JSONB NOT NULL, last_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (mailbox, workflow_id)
    );
    CREATE INDEX threads_by_subject ON threads (mailbox, subject_key, last_at);
    CREATE TABLE thread_refs (
        mailbox TEXT NOT NULL, reference TEXT NOT NULL, workflow_id TEXT NOT NULL,
        PRIMARY KEY (mailbox, reference, workflow_id)
    );
    """,
    # 3: the automatic mail sent, for the caps across threads (and now across nodes)
    """
    CREATE TABLE automatic_mail (
        message_id TEXT NOT NULL, address TEXT NOT NULL, domain TEXT NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL,
        UNIQUE (message_id, address)
    );
    CREATE INDEX automatic_mail_by_address ON automatic_mail (address, sent_at);
    CREATE INDEX automatic_mail_by_domain ON automatic_mail (domain, sent_at);
    CREATE INDEX automatic_mail_by_time ON automatic_mail (sent_at);
    """,
    # 4: keys every node must agree on (the reply token's HMAC key), made by the first node
    """
    CREATE TABLE shared_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 5: the IMAP checkpoints and quarantine record, so any node may poll a source
    """
    CREATE TABLE imap_checkpoints (
        source TEXT PRIMARY KEY, uidvalidity BIGINT NOT NULL, last_uid BIGINT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE imap_quarantine (
        source TEXT NOT NULL, uidvalidity BIGINT NOT NULL, uid BIGINT NOT NULL,
        message_id TEXT NOT NULL, reason TEXT NOT NULL, moved_to TEXT,
        at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (source, uidvalidity, uid)
    );
    CREATE INDEX imap_quarantine_by_time ON imap_quarantine (source, at);
    """,
    # 6: the blob store (raw mail, attachments), its references and pins, the raw pointers.
    # bytea, not large objects: a blob is at most one mail (MAILROOM_MAX_MESSAGE_BYTES, 25 MB
    # by default, far below bytea's 1 GB), read and written whole; a row is deleted with its
    # bytes (large objects need their own unlink) and TOAST compresses the text parts.
    """
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL, data BYTEA NOT NULL,
        stored_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX blobs_by_time ON blobs (stored_at);
    CREATE TABLE blob_references (
        sha256 TEXT PRIMARY KEY, since TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE blob_pins (
        sha256 TEXT PRIMARY KEY, holders INTEGER NOT NULL,
        since TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE raw_messages (
        message_key TEXT PRIMARY KEY, sha256 TEXT NOT NULL,
        kept_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    """,
    # 7: what each relayed mail was, so `mailroom outbox` lists it from any node; rows sent
    # before keep only their Message-ID and time (the columns stay NULL)
    """
    ALTER TABLE sent
        ADD COLUMN from_addr TEXT, ADD COLUMN to_addrs JSONB, ADD COLUMN subject TEXT,
        ADD COLUMN in_reply_to TEXT, ADD COLUMN refs JSONB, ADD COLUMN reply_to TEXT;
    CREATE INDEX sent_by_time ON sent (sent_at);
    """,
    # 8: the cost centre whose budget an order spent (NULL before: its requester's), and the
    # orders by time, for the monthly budget (MAILROOM_BUDGET_PER_COST_CENTRE)
    """
    ALTER TABLE purchase_orders ADD COLUMN cost_centre TEXT;
    CREATE INDEX purchase_orders_by_time ON purchase_orders (created_at);
    """,
    # 9: when each IMAP source was last read through without an error (`mailroom status`)
    """
    ALTER TABLE imap_checkpoints ADD COLUMN fetched_at TIMESTAMPTZ;
    """,
    # 10: which blobs each thread's mail stored, so retention and erasure remove a blob only
    # once every thread holding it is past retention or erased (thread_blobs.py)
    """
    CREATE TABLE thread_blobs (
        workflow_id TEXT NOT NULL, sha256 TEXT NOT NULL,
        PRIMARY KEY (workflow_id, sha256)
    );
    CREATE INDEX thread_blobs_by_sha ON thread_blobs (sha256);
    """,
)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached, refuses us, or its schema cannot be brought up."""


Connection = psycopg.Connection[tuple[Any, ...]]
AsyncConnection = psycopg.AsyncConnection[tuple[Any, ...]]


def connect(url: str) -> Connection:
    """Autocommit: each statement commits alone; `with db.transaction():` groups them."""
    db = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    return without_nul_bytes(db)


# PostgreSQL text (and jsonb) cannot hold U+0000, which mail can (a Message-ID, a subject, a
# name): it is stored as U+FFFD, as the replacement for an unreadable character, instead of
# failing the activity on every retry. SQLite keeps it; nothing compares keys across backends.
NUL, REPLACEMENT = "\x00", "\ufffd"


class _TextDumper(StrDumperUnknown):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace(NUL, REPLACEMENT))


class _BinaryTextDumper(StrBinaryDumper):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace(NUL, REPLACEMENT))


def _json_text(value: Any) -> str:
    return json.dumps(_cleaned(value))


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    return value


DB = TypeVar("DB", Connection, AsyncConnection)


def without_nul_bytes(db: DB) -> DB:
    db.adapters.register_dumper(str, _TextDumper)
    db.adapters.register_dumper(str, _BinaryTextDumper)
    set_json_dumps(_json_text, context=db)
    return db


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


def schema_version(url: str) -> int:
    """The migration this database is at (0: none applied yet); changes nothing. Raise
    DatabaseUnavailable, with PostgreSQL's own reason, when it cannot be read."""
    try:
        with connect(url) as db:
            known = db.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if not known or known[0] is None:
                return 0
            row = db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            return int(row[0]) if row else 0
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
