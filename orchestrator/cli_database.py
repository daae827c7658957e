"""`mailroom database import [--dry-run]`: carry a one-box installation's SQLite state (the
data directory) into the PostgreSQL of MAILROOM_DATABASE_URL, migrated first, so a node
switched to the database keeps its purchase orders, threads, sent log and blobs."""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from adapters.outbound.postgres import (
    MIGRATIONS,
    DatabaseUnavailable,
    connect,
    migrate,
    schema_version,
)
from adapters.outbound.postgres_import import (
    BLOB_TABLES,
    TABLES,
    Check,
    ImportConflict,
    Row,
    Table,
    copy_tables,
)
from orchestrator.blob_keys import ADDRESS_KEY_FILE, ADDRESS_KEY_NAME
from orchestrator.bootstrap import REPLY_TOKEN_KEY_FILE, REPLY_TOKEN_KEY_NAME
from orchestrator.cli_errors import CliError
from orchestrator.cli_output import visible
from orchestrator.encryption_keys import KEY_FILE, KEY_NAME
from orchestrator.instance import running_instance
from orchestrator.settings import Settings
from orchestrator.settings_checks import masked_url

STORES = (
    "ledger", "invoices", "sent", "threads", "auto-replies", "imap", "blobs", "reply-token key",
    "encryption keys",
)  # fmt: skip


def _reply_token_key(data_dir: Path) -> Iterator[Row]:
    """The data directory's key, so replies to mail signed before still match their thread;
    a database whose nodes already made one keeps it (their tokens are signed with it)."""
    path = data_dir / REPLY_TOKEN_KEY_FILE
    if path.exists() and (key := path.read_text().strip()):
        yield REPLY_TOKEN_KEY_NAME, key


REPLY_TOKEN_KEY = Table(
    "reply-token key", "shared_secrets", ("name", "value"), (Check(("name",)),), _reply_token_key
)


def _key_file(file: str, name: str) -> Callable[[Path], Iterator[Row]]:
    def rows(data_dir: Path) -> Iterator[Row]:
        path = data_dir / file
        if path.exists() and (key := path.read_text().strip()):
            yield name, key

    return rows


# What was sealed with the data directory's key opens only with it: a database whose nodes
# made another one is a conflict (nothing imported), never a silent switch of keys.
ENCRYPTION_KEY = Table(
    "encryption keys", "shared_secrets", ("name", "value"), (Check(("name",), ("value",)),),
    _key_file(KEY_FILE, KEY_NAME),
)  # fmt: skip
# Blobs are found by the address their references hold: another naming key costs only the
# deduplication of new blobs against the imported ones.
BLOB_ADDRESS_KEY = Table(
    "encryption keys", "shared_secrets", ("name", "value"), (Check(("name",)),),
    _key_file(ADDRESS_KEY_FILE, ADDRESS_KEY_NAME),
)  # fmt: skip


def add_database_parser(commands: Any) -> None:
    database = commands.add_parser("database", help="the shared PostgreSQL database")
    actions = database.add_subparsers(dest="action", required=True, metavar="ACTION")
    copy = actions.add_parser(
        "import", help="copy the data directory's SQLite state into MAILROOM_DATABASE_URL"
    )
    copy.add_argument(
        "--dry-run", action="store_true", help="only count what it would copy, per store"
    )


def cmd_database(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.database_url
    if not url:
        raise CliError("MAILROOM_DATABASE_URL is not set: there is no database to import into")
    if not settings.data_dir.is_dir():
        raise CliError(f"MAILROOM_DATA_DIR: {settings.data_dir} is not a directory")
    if running_instance(settings) is not None:
        raise CliError(f"mailroom runs from {settings.data_dir}: stop it first, then import")
    try:
        copied = _import(url, settings, _tables(settings), write=not args.dry_run)
    except (DatabaseUnavailable, psycopg.Error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = reason.replace(url, masked_url(url))
        raise CliError(f"MAILROOM_DATABASE_URL: {shown}") from None
    except ImportConflict as exc:
        raise CliError(f"nothing imported: {exc}") from None
    except (sqlite3.Error, OSError) as exc:  # a damaged or unreadable file of the data dir
        raise CliError(f"MAILROOM_DATA_DIR: nothing imported: {exc}") from None
    verb = "would copy" if args.dry_run else "copied"
    for store in STORES:
        if store == "blobs" and settings.blob_dir is not None:
            print(f"blobs: stay in MAILROOM_BLOB_DIR {visible(str(settings.blob_dir))}")
        elif store in copied:
            print(f"{store}: {verb} {copied[store]}")
    return 0


def _tables(settings: Settings) -> tuple[Table, ...]:
    """Blobs only when they move to the database; the data directory's reply-token key only
    when MAILROOM_REPLY_TOKEN_SECRET does not set one, its encryption key only when
    MAILROOM_ENCRYPTION_KEYS(_FILE) does not."""
    tables = TABLES if settings.blob_dir is not None else TABLES + BLOB_TABLES
    secret = settings.reply_token_secret
    if not (secret and secret.get_secret_value()):
        tables = (*tables, REPLY_TOKEN_KEY)
    keys = settings.encryption_keys
    if not (keys and keys.get_secret_value()) and settings.encryption_keys_file is None:
        tables = (*tables, ENCRYPTION_KEY)
    return (*tables, BLOB_ADDRESS_KEY)


def _import(
    url: str, settings: Settings, tables: tuple[Table, ...], *, write: bool
) -> dict[str, int]:
    if not write and schema_version(url) < len(MIGRATIONS):
        # an unmigrated database holds nothing of ours: everything would be copied
        migrate_first = {table.store: 0 for table in tables}
        for table in tables:
            migrate_first[table.store] += sum(1 for _ in table.rows(settings.data_dir))
        return migrate_first
    if write:
        migrate(url)
    with connect(url) as db, db.transaction():
        return copy_tables(db, settings.data_dir, tables, write=write)
