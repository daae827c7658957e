"""A blob directory the nodes share (MAILROOM_BLOB_DIR with MAILROOM_DATABASE_URL): listed
once, by the first node to use it (a later process start must not walk the whole share); the
blobs the nodes' threads hold are never swept, whenever they came into the directory; a put
racing another node's removal of the same file writes it again."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import psycopg

from adapters.outbound.blob_store import FileBlobStore, blobs_under
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_blob_store import BLOB_LOCKS, LOCK
from adapters.outbound.postgres_pool import Database
from tests.contract.test_blob_store_contract import waiting_on_a_lock
from tests.support import wait_for

GRACE = timedelta(hours=1)
LATER = time.time() + 2 * GRACE.total_seconds()  # the next hourly sweeps, past the grace


async def test_a_process_joining_an_adopted_blob_directory_does_not_list_it(
    postgres_url: str,
) -> None:
    migrate(postgres_url)
    database = Database(postgres_url)
    first_node = PostgresBlobReferences(database, lambda: ["a" * 64])
    await first_node.pin("b" * 64)  # adopts the directory
    listings: list[str] = []

    def listing() -> Iterable[str]:
        listings.append("the whole share walked")
        return []

    next_process = PostgresBlobReferences(database, listing)
    await next_process.pin("c" * 64)
    assert listings == []
    assert await next_process.is_referenced("a" * 64)
    await database.close()


async def test_blobs_a_second_node_brings_into_the_shared_directory_are_never_swept(
    postgres_url: str, tmp_path: Path
) -> None:
    """Two single-node installations move to one MAILROOM_BLOB_DIR (docs: "set MAILROOM_BLOB_DIR
    to that directory to keep reading the blobs its open threads hold"): node A points at its
    old `<data dir>/blobs`, node B's old blobs are copied in (`cp -a`, old mtimes) after A
    started. B's open threads hold them: the sweep must not remove them."""
    migrate(postgres_url)
    shared = tmp_path / "a" / "blobs"
    database = Database(postgres_url)
    node_a = FileBlobStore(shared, PostgresBlobReferences(database, lambda: blobs_under(shared)))
    await node_a.put(b"node A's first mail")  # adopts the directory as it is now
    node_b_old = FileBlobStore(tmp_path / "b" / "blobs")  # node B before the move
    held = await node_b_old.put(b"attachment of an open thread on node B")
    await node_b_old.settle([held])
    await node_b_old.close()
    copied = shared / held.sha256[:2] / held.sha256
    copied.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(tmp_path / "b" / "blobs" / held.sha256[:2] / held.sha256, copied)
    await node_a.sweep(GRACE, now=LATER)
    assert await node_a.get(held.sha256) == b"attachment of an open thread on node B"
    await database.close()


async def test_a_put_while_another_node_removes_the_same_file_writes_it_again(
    postgres_url: str, tmp_path: Path
) -> None:
    """As the PostgreSQL store's test of the same name, for a shared directory: another node
    has decided, under the blob's lock, that the file is unheld and is removing it; a put of
    the same bytes must wait for that, then find the file gone and write it again."""
    migrate(postgres_url)
    shared = tmp_path / "blobs"
    database = Database(postgres_url)
    store = FileBlobStore(shared, PostgresBlobReferences(database, lambda: blobs_under(shared)))
    ref = await store.put(b"removed there, stored again here")
    await store.release([ref])
    ref = await store.put(b"removed there, stored again here")
    await store.settle([ref])
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as remover:
        async with remover.transaction():
            await remover.execute(LOCK, (BLOB_LOCKS, [ref.sha256]))
            await remover.execute("DELETE FROM blob_references")
            again = asyncio.create_task(store.put(b"removed there, stored again here"))
            await wait_for(lambda: waiting_on_a_lock(postgres_url), what="the put to wait")
            store.path_of(ref.sha256).unlink()  # the remover's file removal, under the lock
        await again
    assert await store.get(ref.sha256) == b"removed there, stored again here"
    await database.close()
