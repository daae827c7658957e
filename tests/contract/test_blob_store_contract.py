"""The blob store's contract, on a directory (MAILROOM_BLOB_DIR, e.g. a shared mount) and in
PostgreSQL: two store objects on one place are two nodes. What one node's SMTP adapter stores,
another's worker reads; no sweep or refused mail, on any node, removes a blob a thread holds
or a mail is still storing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from adapters.outbound.blob_store import FileBlobStore, blobs_under
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_blob_store import BLOB_LOCKS, LOCK, PostgresBlobStore
from adapters.outbound.postgres_pool import Database
from tests.support import wait_for
from use_cases.ports import BlobNotFound

GRACE = timedelta(hours=1)
LATER = time.time() + 2 * GRACE.total_seconds()  # a sweep's clock past every grace

BlobStores = Callable[[], FileBlobStore | PostgresBlobStore]  # a new node's store


@pytest.fixture(params=["directory", "directory+postgres", "postgres"])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStores]:
    """Each param: "directory": one node's blob dir (references in SQLite); "directory+postgres": a
    directory the nodes mount, references in PostgreSQL; "postgres": the bytes there too."""
    made: list[FileBlobStore | PostgresBlobStore] = []
    databases: list[Database] = []
    url = request.getfixturevalue("postgres_url") if "postgres" in request.param else ""
    if url:
        migrate(url)
    shared = tmp_path / "mount" / "blobs"

    def node() -> FileBlobStore | PostgresBlobStore:
        if request.param == "postgres":
            store: FileBlobStore | PostgresBlobStore = PostgresBlobStore(url)
        elif url:
            databases.append(Database(url))
            refs = PostgresBlobReferences(databases[-1], lambda: blobs_under(shared))
            store = FileBlobStore(shared, references=refs)
        else:
            store = FileBlobStore(shared)
        made.append(store)
        return store

    yield node
    for store in made:
        await store.close()
    for database in databases:
        await database.close()


async def test_stored_bytes_read_back_on_another_node(nodes: BlobStores) -> None:
    smtp_node, worker_node = nodes(), nodes()
    small, big = b"hello", os.urandom(300 * 1024)  # big: hashed off the event loop
    refs = [await smtp_node.put(small), await smtp_node.put(big)]
    assert [await worker_node.get(ref.sha256) for ref in refs] == [small, big]
    assert [ref.size for ref in refs] == [5, len(big)]


async def test_the_same_bytes_are_one_blob_under_their_sha256(nodes: BlobStores) -> None:
    one, other = nodes(), nodes()
    first, second = await one.put(b"same attachment"), await other.put(b"same attachment")
    assert first == second
    assert first.sha256 == hashlib.sha256(b"same attachment").hexdigest()
    await one.release([first])  # the other mail is still storing it
    assert await other.get(first.sha256) == b"same attachment"


async def test_a_blob_never_stored_is_not_found(nodes: BlobStores) -> None:
    store = nodes()
    with pytest.raises(BlobNotFound):
        await store.get("0" * 64)
    with pytest.raises(BlobNotFound):
        await store.get("../../etc/passwd")
    with pytest.raises(BlobNotFound):
        await store.raw("<never@example.com>")


async def test_a_raw_message_kept_on_one_node_is_found_by_its_message_id_on_another(
    nodes: BlobStores,
) -> None:
    one, other = nodes(), nodes()
    await one.keep_raw("<a\x00b@example.com>", b"raw mail")
    assert await other.raw("<a\x00b@example.com>") == b"raw mail"


async def test_a_refused_mail_is_removed_unless_a_thread_holds_its_blobs(
    nodes: BlobStores,
) -> None:
    accepting, refusing = nodes(), nodes()
    held = await accepting.put(b"attachment in both mails")
    await accepting.settle([held])
    shared = await refusing.put(b"attachment in both mails")
    own = await refusing.keep_raw("<refused@example.com>", b"refused raw mail")
    await refusing.release([shared, own], message_id="<refused@example.com>")
    assert await accepting.get(held.sha256) == b"attachment in both mails"
    with pytest.raises(BlobNotFound):
        await accepting.get(own.sha256)
    with pytest.raises(BlobNotFound):
        await accepting.raw("<refused@example.com>")


async def test_releasing_twice_or_an_unknown_blob_is_harmless(nodes: BlobStores) -> None:
    store = nodes()
    ref = await store.put(b"once")
    await store.settle([ref])
    await store.release([ref])
    await store.release([ref])
    assert await store.get(ref.sha256) == b"once"


async def test_a_blob_stored_but_not_yet_handed_off_survives_a_sweep_within_the_grace(
    nodes: BlobStores,
) -> None:
    storing, sweeping = nodes(), nodes()
    ref = await storing.put(b"hand-off in progress")
    swept = await sweeping.sweep(GRACE, now=time.time() + 30 * 60)
    assert swept.blobs == 0
    assert await storing.get(ref.sha256) == b"hand-off in progress"
    await storing.settle([ref])
    await sweeping.sweep(GRACE, now=LATER)
    assert await storing.get(ref.sha256) == b"hand-off in progress"


async def test_the_sweep_removes_what_a_crashed_writer_left_after_the_grace(
    nodes: BlobStores,
) -> None:
    crashed, sweeping = nodes(), nodes()
    left = await crashed.keep_raw("<crashed@example.com>", b"never handed off")
    held = await crashed.put(b"handed off")
    await crashed.settle([held])
    swept = await sweeping.sweep(GRACE, now=LATER)
    assert swept.blobs == 1 and swept.bytes_freed == len(b"never handed off")
    with pytest.raises(BlobNotFound):
        await sweeping.get(left.sha256)
    with pytest.raises(BlobNotFound):
        await sweeping.raw("<crashed@example.com>")
    assert await sweeping.get(held.sha256) == b"handed off"


async def test_the_grace_is_never_under_ten_minutes(nodes: BlobStores) -> None:
    store = nodes()
    ref = await store.put(b"just stored")
    await store.sweep(timedelta(seconds=1), now=time.time() + 5 * 60)
    assert await store.get(ref.sha256) == b"just stored"


async def test_blobs_already_in_a_directory_nodes_start_sharing_are_never_swept(
    postgres_url: str, tmp_path: Path
) -> None:
    one_node = FileBlobStore(tmp_path / "blobs")  # before MAILROOM_DATABASE_URL was set
    old = await one_node.put(b"attachment of a thread from last year")
    await one_node.settle([old])
    await one_node.close()
    migrate(postgres_url)
    database = Database(postgres_url)
    references = PostgresBlobReferences(database, lambda: blobs_under(tmp_path / "blobs"))
    shared = FileBlobStore(tmp_path / "blobs", references=references)
    await shared.sweep(GRACE, now=LATER)
    assert await shared.get(old.sha256) == b"attachment of a thread from last year"
    await database.close()


async def test_a_blob_released_on_one_node_while_another_stores_it_again_is_kept(
    nodes: BlobStores,
) -> None:
    accepting, refusing = nodes(), nodes()

    async def accept(data: bytes) -> None:
        await accepting.settle([await accepting.put(data)])

    for round_ in range(20):
        data = f"attachment {round_}".encode()
        first = await refusing.put(data)
        await asyncio.gather(refusing.release([first]), accept(data))
        assert await refusing.get(first.sha256) == data


def waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
    return bool(row and row[0])


async def test_a_put_while_another_node_removes_the_same_blob_stores_it_again(
    postgres_url: str,
) -> None:
    """A node's removal (release or sweep) decided and not yet committed: a put of the same
    bytes on another node waits for it, then finds the blob gone and writes it again."""
    migrate(postgres_url)
    store = PostgresBlobStore(postgres_url)
    ref = await store.put(b"released here, stored again there")
    await store.release([ref])  # gone; now put it back and remove it in a held transaction
    ref = await store.put(b"released here, stored again there")
    await store.settle([ref])
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as remover:
        async with remover.transaction():
            await remover.execute(LOCK, (BLOB_LOCKS, [ref.sha256]))
            await remover.execute("DELETE FROM blob_references")
            await remover.execute("DELETE FROM blobs WHERE sha256 = %s", (ref.sha256,))
            again = asyncio.create_task(store.put(b"released here, stored again there"))
            await wait_for(lambda: waiting_on_a_lock(postgres_url), what="the put to wait")
        await again
    assert await store.get(ref.sha256) == b"released here, stored again there"
    await store.close()
