"""When each IMAP source was last read through without an error (`mailroom status`), on
SQLite and PostgreSQL: recorded by one node, read by another; none before the first read; a
SQLite file made before the column gains it; reading a missing file creates nothing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.inbound.imap_checkpoint import Checkpoint, SqliteCheckpointStore
from tests.contract.conftest import Stores

SOURCE = "sales@imap.example.com:993/INBOX"
# The table as releases before the fetch time made it.
OLD_SCHEMA = """
CREATE TABLE imap_checkpoints (
    source TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO imap_checkpoints (source, uidvalidity, last_uid) VALUES
    ('sales@imap.example.com:993/INBOX', 7, 42);
"""


def test_a_fetch_recorded_by_one_node_is_read_by_another(stores: Stores) -> None:
    one, other = stores("imap_checkpoints"), stores("imap_checkpoints")
    one.save(SOURCE, Checkpoint(uidvalidity=7, last_uid=42))
    assert other.last_fetched(SOURCE) is None  # a checkpoint, but no read through yet
    before = datetime.now(UTC) - timedelta(seconds=5)  # the database's clock, not ours
    one.fetched(SOURCE)
    fetched = other.last_fetched(SOURCE)
    assert fetched is not None and fetched.tzinfo is not None
    assert before <= fetched <= datetime.now(UTC) + timedelta(seconds=5)
    one.save(SOURCE, Checkpoint(uidvalidity=7, last_uid=43))  # a new checkpoint keeps it
    assert other.last_fetched(SOURCE) == fetched
    assert other.last_fetched("ops@imap.example.com:993/INBOX") is None


def test_a_checkpoint_file_from_before_the_fetch_time_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "imap.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(OLD_SCHEMA)
    store = SqliteCheckpointStore(path)
    assert store.load(SOURCE) == Checkpoint(uidvalidity=7, last_uid=42)
    assert store.last_fetched(SOURCE) is None
    store.fetched(SOURCE)
    assert SqliteCheckpointStore(path).last_fetched(SOURCE) is not None


def test_reading_fetch_times_creates_no_file(tmp_path: Path) -> None:
    store = SqliteCheckpointStore(tmp_path / "data" / "imap.sqlite")
    assert store.last_fetched(SOURCE) is None
    assert not (tmp_path / "data").exists()
