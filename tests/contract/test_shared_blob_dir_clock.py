"""Pins in a shared MAILROOM_BLOB_DIR are stamped by the database's clock, the one clock every
node shares: the sweep must judge them by that clock too, never by its own node's, or a node
whose clock runs ahead drops the pin of a mail another node is storing right now."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from adapters.outbound import blob_store
from adapters.outbound.blob_store import FileBlobStore, blobs_under
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_pool import Database

GRACE = timedelta(hours=1)
NODE_CLOCK_AHEAD = 2 * GRACE.total_seconds()  # seconds


async def pinned_since(url: str, sha256: str, age: timedelta) -> None:
    """Backdate a pin by `age`, by the database's clock."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        await db.execute(
            "UPDATE blob_pins SET since = clock_timestamp() - %s WHERE sha256 = %s",
            (age, sha256),
        )


async def test_a_node_whose_clock_runs_ahead_keeps_a_pin_the_database_says_is_fresh(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(postgres_url)
    shared = tmp_path / "blobs"
    database = Database(postgres_url)
    store = FileBlobStore(shared, PostgresBlobReferences(database, lambda: blobs_under(shared)))
    fresh = await store.put(b"a mail another node is storing")  # pinned, not yet handed off
    stale = await store.put(b"what a crashed writer left")
    await pinned_since(postgres_url, fresh.sha256, GRACE - timedelta(minutes=5))
    await pinned_since(postgres_url, stale.sha256, GRACE + timedelta(minutes=5))
    for ref in (fresh, stale):  # files old by any clock: only the pins decide
        os.utime(store.path_of(ref.sha256), (0, 0))
    node_clock = SimpleNamespace(time=lambda: time.time() + NODE_CLOCK_AHEAD)
    monkeypatch.setattr(blob_store, "time", node_clock)
    await store.sweep(GRACE)
    assert await store.get(fresh.sha256) == b"a mail another node is storing"
    assert not store.path_of(stale.sha256).exists()
    await database.close()
