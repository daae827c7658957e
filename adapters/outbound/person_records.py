"""What the SQLite stores in the data directory hold of one person, found and removed for
`mailroom erase` (use_cases/erasure.py): the thread index's threads they took part in, the
relay's sent log, the automatic-mail log, the purchase-order ledger's requester, and the
outbox's mails. Each store's work is one transaction under the write lock (BEGIN IMMEDIATE),
which the running service's writers take too. An address is matched lowered (the form
normalize_address gives), bare or inside `Name <address>` as the logs keep recipients."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import sqlite3
from collections.abc import Callable, Sequence
from email.utils import getaddresses
from pathlib import Path
from typing import TypeVar

from adapters.outbound.outbox import read_entry
from use_cases.erasure import ERASED, PersonThread

T = TypeVar("T")
THREADS_OF = (
    "SELECT mailbox, workflow_id, participants FROM threads WHERE EXISTS "
    "(SELECT 1 FROM json_each(threads.participants) WHERE lower(json_each.value) = ?)"
)
IS_PERSON = "(lower({0}) = ? OR lower({0}) LIKE ? ESCAPE '\\')"
SENT_TO = (
    f"FROM sent WHERE {IS_PERSON.format('from_addr')} OR EXISTS (SELECT 1 FROM "
    f"json_each(sent.to_addrs) WHERE {IS_PERSON.format('json_each.value')})"
)
THREAD_TABLES = ("messages", "threads", "refs")


class SqlitePersonRecords:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    async def threads_of(self, address: str) -> list[PersonThread]:
        def find(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
            return list(db.execute(THREADS_OF, (address,)).fetchall())

        rows = await self._run("threads.sqlite", find) or []
        return [
            PersonThread(mailbox=m, workflow_id=w, participants=json.loads(p)) for m, w, p in rows
        ]

    async def remove_threads(
        self, threads: Sequence[PersonThread], address: str, *, dry_run: bool
    ) -> int:
        """The rows of the threads only `address` took part in; `address` dropped from the
        participants of the others. Returns the threads removed."""
        if not dry_run:
            await self._run(
                "threads.sqlite", lambda db: _remove_threads(db, threads, address), write=True
            )
        return sum(not t.shared for t in threads)

    async def remove_sent(self, address: str, *, dry_run: bool) -> int:
        verb = "SELECT count(*)" if dry_run else "DELETE"
        args = person_patterns(address) * 2
        return await self._count("sent.sqlite", f"{verb} {SENT_TO}", args, dry_run)

    async def remove_automatic_mail(self, capped: str, *, dry_run: bool) -> int:
        verb = "SELECT count(*)" if dry_run else "DELETE"
        query = f"{verb} FROM automatic_mail WHERE address = ?"
        return await self._count("auto_replies.sqlite", query, (capped,), dry_run)

    async def anonymise_orders(self, address: str, *, dry_run: bool) -> int:
        where = f"WHERE {IS_PERSON.format('requester')}"
        if dry_run:
            query = f"SELECT count(*) FROM purchase_orders {where}"
            return await self._count("ledger.sqlite", query, person_patterns(address), True)
        query = f"UPDATE purchase_orders SET requester = ? {where}"
        return await self._count("ledger.sqlite", query, (ERASED, *person_patterns(address)), False)

    async def anonymise_invoices(self, address: str, *, dry_run: bool) -> int:
        where = f"WHERE {IS_PERSON.format('approved_by')}"
        if dry_run:
            query = f"SELECT count(*) FROM invoices {where}"
            return await self._count("ledger.sqlite", query, person_patterns(address), True)
        query = f"UPDATE invoices SET approved_by = ? {where}"
        return await self._count("ledger.sqlite", query, (ERASED, *person_patterns(address)), False)

    async def _count(self, file: str, query: str, args: tuple[str, ...], dry_run: bool) -> int:
        def run(db: sqlite3.Connection) -> int:
            cursor = db.execute(query, args)
            return int(cursor.fetchone()[0]) if dry_run else cursor.rowcount

        return await self._run(file, run, write=not dry_run) or 0

    async def _run(
        self, file: str, fn: Callable[[sqlite3.Connection], T], *, write: bool = False
    ) -> T | None:
        return await asyncio.to_thread(_in_transaction, self.data_dir / file, fn, write)


def _in_transaction(path: Path, fn: Callable[[sqlite3.Connection], T], write: bool) -> T | None:
    """None when the store was never made (or lacks the table): it holds nothing of anyone."""
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        # What is erased is overwritten with zeros, and the log holding the old pages is
        # emptied (when no reader holds it): no copy of the person stays in the file.
        db.execute("PRAGMA secure_delete = ON")
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = fn(db)
        except sqlite3.OperationalError as exc:
            db.execute("ROLLBACK")
            if "no such table" in str(exc):
                return None
            raise
        db.execute("COMMIT")
        if write:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return result


def _remove_threads(db: sqlite3.Connection, threads: Sequence[PersonThread], address: str) -> None:
    for thread in threads:
        key = (thread.mailbox, thread.workflow_id)
        if thread.shared:
            kept = [p for p in thread.participants if p.lower() != address]
            query = "UPDATE threads SET participants = ? WHERE mailbox = ? AND workflow_id = ?"
            db.execute(query, (json.dumps(kept), *key))
            continue
        for table in THREAD_TABLES:
            db.execute(f"DELETE FROM {table} WHERE mailbox = ? AND workflow_id = ?", key)


def person_patterns(address: str) -> tuple[str, str]:
    """The arguments of IS_PERSON: the bare address, and `… <address>` as a LIKE pattern."""
    escaped = address.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return address, f"%<{escaped}>"


def remove_outbox_mail(root: Path, address: str, *, dry_run: bool) -> int:
    """The outbox's mails (Maildir files in new/ and cur/) to or from `address`. A mail
    client that showed one moved it to cur/ with its flags after the name (`….eml:2,S`),
    maybe while this reads: then it is looked for there once more."""
    removed = 0
    paths = [*root.glob("new/*.eml"), *root.glob("cur/*.eml*")]
    for path in paths:
        try:
            entry = read_entry(path)
        except FileNotFoundError:
            if path.parent.name == "new":
                paths += root.glob(f"cur/{glob.escape(path.name)}:*")
            continue
        people = {a.lower() for _, a in getaddresses([entry.from_addr, *entry.to])}
        if address in people:
            removed += 1
            if not dry_run:
                path.unlink(missing_ok=True)
    return removed
