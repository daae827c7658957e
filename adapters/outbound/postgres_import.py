"""Copy a one-box installation's SQLite state (the data directory) into PostgreSQL.

Each SQLite table maps onto its PostgreSQL twin (migrations in postgres.py). A row whose keys
are already there with the same identity is skipped, so a second import copies nothing; a
key already there with another identity (a PO number given to another request, a Message-ID
in another thread) is a conflict, and the whole import, one transaction, writes nothing.
The adapters have no method to write a row as it was (the ledger would give a new number),
so the copy is SQL on both sides: a change to a table needs its line here too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.outbound.blob_store import RAW_POINTERS, REFERENCES_FILE, blobs_under, is_sha256
from adapters.outbound.postgres import NUL, REPLACEMENT, Connection

Row = tuple[Any, ...]


class ImportConflict(RuntimeError):
    """The database already holds other data under a key the data directory uses."""


@dataclass(frozen=True)
class Check:
    """Rows with these `key` columns must have these `same` columns (indexes into the row)."""

    key: tuple[str, ...]
    same: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    store: str  # the store it belongs to, as the report names it
    name: str  # the PostgreSQL table
    columns: tuple[str, ...]
    checks: tuple[Check, ...]
    rows: Callable[[Path], Iterator[Row]]  # from the data directory, in `columns` order
    placeholders: str = ""  # VALUES (...) when a column needs more than a cast

    def insert(self) -> str:
        values = self.placeholders or ", ".join(
            f"%s::{CASTS[column]}" if column in CASTS else "%s" for column in self.columns
        )
        # no ON CONFLICT: a row checked absent and then written by a running node fails the
        # import (rolled back whole, run it again) instead of being silently dropped
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({values})"


def _sqlite_rows(file: str, query: str) -> Callable[[Path], Iterator[Row]]:
    """`query`'s rows from the data directory's `file`, read-only; none when the file or
    table is not there, NULL for a column a file from an older release lacks."""

    def rows(data_dir: Path) -> Iterator[Row]:
        path = data_dir / file
        if not path.exists():
            return
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            yield from db.execute(_as_far_as_known(db, query))
        finally:
            db.close()

    return rows


def _as_far_as_known(db: sqlite3.Connection, query: str) -> str:
    listed, _, rest = query.removeprefix("SELECT ").partition(" FROM ")
    table = rest.split()[0]
    known = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}  # our own names
    if not known:
        return "SELECT 1 WHERE 0"
    present = ", ".join(c if c in known else "NULL" for c in listed.split(", "))
    return f"SELECT {present} FROM {rest}"


def _orders(data_dir: Path) -> Iterator[Row]:
    """SQLite numbers orders across years; PO-<year of created_at>-<seq> is their number."""
    query = (
        "SELECT seq, po_key, thread_id, requester, total, items, created_at, currency, supplier, "
        "cost_centre FROM purchase_orders ORDER BY seq"
    )
    for seq, *rest in _sqlite_rows("ledger.sqlite", query)(data_dir):
        yield (datetime.fromisoformat(rest[5]).year, seq, *rest)


def _blobs(data_dir: Path) -> Iterator[Row]:
    root = data_dir / "blobs"
    for sha256 in sorted(blobs_under(root)):
        data = (root / sha256[:2] / sha256).read_bytes()
        yield sha256, len(data), data


def _raw_pointers(data_dir: Path) -> Iterator[Row]:
    """The pointer's name is the PostgreSQL message_key already (a keyed hash of the
    Message-ID under the blob-address key, imported with them, or the sha256 of an older
    mailroom: blob_sealing.message_keys_with)."""
    folder = data_dir / "blobs" / RAW_POINTERS
    for pointer in sorted(folder.iterdir()) if folder.is_dir() else []:
        if is_sha256(pointer.name):
            target = pointer.read_text().strip()
            if is_sha256(target):
                yield pointer.name, target


# SQLite keeps these as text (ISO times, JSON); psycopg sends a str as text.
CASTS = {
    **dict.fromkeys(("items", "to_addrs", "refs", "participants"), "jsonb"),
    **dict.fromkeys(("created_at", "booked_at", "sent_at", "last_at", "updated_at", "at"),
                    "timestamptz"),
}  # fmt: skip
SENT_DETAILS = ("from_addr", "to_addrs", "subject", "in_reply_to", "refs", "reply_to")
TABLES: tuple[Table, ...] = (
    Table(
        "ledger", "purchase_orders",
        ("year", "seq", "po_key", "thread_id", "requester", "total", "items", "created_at",
         "currency", "supplier", "cost_centre"),
        (Check(("po_key",), ("year", "seq", "thread_id")),
         Check(("year", "seq"), ("po_key",))),
        _orders,
    ),
    Table(
        "invoices", "invoices",
        ("invoice_key", "supplier", "invoice_number", "amount", "currency", "po_number",
         "approved_by", "booked_at"),
        (Check(("invoice_key",), ("supplier", "invoice_number")),),
        _sqlite_rows("ledger.sqlite", "SELECT invoice_key, supplier, invoice_number, amount, "
                     "currency, po_number, approved_by, booked_at FROM invoices ORDER BY seq"),
    ),
    Table(
        "sent", "sent", ("message_id", "sent_at", *SENT_DETAILS), (Check(("message_id",)),),
        _sqlite_rows("sent.sqlite", f"SELECT message_id, sent_at, {', '.join(SENT_DETAILS)} "
                     "FROM sent ORDER BY sent_at"),
    ),
    Table(
        "threads", "thread_messages", ("mailbox", "message_id", "workflow_id"),
        (Check(("mailbox", "message_id"), ("workflow_id",)),),
        _sqlite_rows("threads.sqlite", "SELECT mailbox, message_id, workflow_id FROM messages"),
    ),
    Table(
        "threads", "threads", ("mailbox", "workflow_id", "subject_key", "participants", "last_at"),
        (Check(("mailbox", "workflow_id")),),
        _sqlite_rows("threads.sqlite", "SELECT mailbox, workflow_id, subject_key, participants, "
                     "last_at FROM threads"),
    ),
    Table(
        "threads", "thread_refs", ("mailbox", "reference", "workflow_id"),
        (Check(("mailbox", "reference", "workflow_id")),),
        _sqlite_rows("threads.sqlite", "SELECT mailbox, reference, workflow_id FROM refs"),
    ),
    Table(
        "threads", "thread_blobs", ("workflow_id", "sha256"),
        (Check(("workflow_id", "sha256")),),
        _sqlite_rows("threads.sqlite", "SELECT workflow_id, sha256 FROM thread_blobs"),
    ),
    Table(
        "auto-replies", "automatic_mail", ("message_id", "address", "domain", "sent_at"),
        (Check(("message_id", "address")),),
        _sqlite_rows("auto_replies.sqlite", "SELECT message_id, address, domain, sent_at "
                     "FROM automatic_mail ORDER BY sent_at"),
    ),
    Table(
        "imap", "imap_checkpoints", ("source", "uidvalidity", "last_uid", "updated_at"),
        (Check(("source",), ("uidvalidity", "last_uid")),),
        _sqlite_rows("imap.sqlite", "SELECT source, uidvalidity, last_uid, updated_at "
                     "FROM imap_checkpoints"),
    ),
    Table(
        "imap", "imap_quarantine",
        ("source", "uidvalidity", "uid", "message_id", "reason", "moved_to", "at"),
        (Check(("source", "uidvalidity", "uid")),),
        _sqlite_rows("imap.sqlite", "SELECT source, uidvalidity, uid, message_id, reason, "
                     "moved_to, at FROM imap_quarantine"),
    ),
)  # fmt: skip
BLOB_TABLES: tuple[Table, ...] = (
    Table("blobs", "blobs", ("sha256", "size", "data"), (Check(("sha256",)),), _blobs),
    Table(
        "blobs", "blob_references", ("sha256", "since"), (Check(("sha256",)),),
        _sqlite_rows(REFERENCES_FILE, "SELECT sha256, since FROM referenced"),
        placeholders="%s, to_timestamp(%s)",
    ),
    Table(
        "blobs", "blob_pins", ("sha256", "holders", "since"), (Check(("sha256",)),),
        _sqlite_rows(REFERENCES_FILE, "SELECT sha256, holders, since FROM pinned"),
        placeholders="%s, %s, to_timestamp(%s)",
    ),
    Table("blobs", "raw_messages", ("message_key", "sha256"), (Check(("message_key",)),),
          _raw_pointers),
)  # fmt: skip


def copy_tables(
    db: Connection, data_dir: Path, tables: Sequence[Table], *, write: bool
) -> dict[str, int]:
    """{store: rows copied (or, with write False, that would be)}; raise ImportConflict.
    The caller holds the transaction: a conflict raised here leaves nothing written."""
    copied: dict[str, int] = {table.store: 0 for table in tables}
    if write:  # nodes already on the database wait to number orders until the counters are set
        db.execute("LOCK TABLE purchase_order_numbers IN EXCLUSIVE MODE")
    for table in tables:
        for row in table.rows(data_dir):
            if _is_new(db, table, row):
                if write:
                    db.execute(table.insert(), row)  # our own table and column names
                copied[table.store] += 1
    if write:
        _continue_numbering(db)
    return copied


def _is_new(db: Connection, table: Table, row: Row) -> bool:
    found = False
    for check in table.checks:
        mine = dict(zip(table.columns, row, strict=True))
        where = " AND ".join(f"{column} = %s" for column in check.key)
        shown = ", ".join(check.same) or "1"
        there = db.execute(
            f"SELECT {shown} FROM {table.name} WHERE {where}",  # our own names
            tuple(_stored(mine[column]) for column in check.key),
        ).fetchone()
        if there is None:
            continue
        found = True
        if check.same and tuple(there) != tuple(_stored(mine[c]) for c in check.same):
            key = ", ".join(f"{column} {mine[column]!r}" for column in check.key)
            raise ImportConflict(f"{table.name}: the database already holds {key} for other data")
    return not found


def _stored(value: Any) -> Any:
    """As PostgreSQL keeps it (postgres.py: U+0000 becomes U+FFFD)."""
    return value.replace(NUL, REPLACEMENT) if isinstance(value, str) else value


def _continue_numbering(db: Connection) -> None:
    """Each year's counter at least its highest order: new numbers continue after them."""
    db.execute(
        "INSERT INTO purchase_order_numbers (year, last_seq) "
        "SELECT year, max(seq) FROM purchase_orders GROUP BY year "
        "ON CONFLICT (year) DO UPDATE SET last_seq = "
        "greatest(purchase_order_numbers.last_seq, excluded.last_seq)"
    )
