"""Review of the group commit: a failure before a group's pins are recorded, a call that
raises StopIteration, and a cancelled settle must never hurt another mail or leave a
reference to a blob that was removed."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.outbound import blob_refs, durable_files
from adapters.outbound.blob_refs import BlobReferences
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.group_commit import GroupCommit
from adapters.outbound.sqlite_connection import SqliteConnection

ATTACHMENT = b"the same attachment in two mails"


def pins_of(store: FileBlobStore) -> dict[str, int]:
    assert isinstance(store.references, BlobReferences)
    with sqlite3.connect(store.references.path) as db:
        return dict(db.execute("SELECT sha256, holders FROM pinned").fetchall())


async def test_a_group_failing_before_its_pins_drops_no_pin_of_the_next_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first group's scan of the blobs on disk fails once (too many open files): its
    puts never pinned, so they must not drop the pin, nor remove the file, of the mail in
    the next group that stores the same attachment."""
    real_adopt = blob_refs._adopt
    scans = 0

    def adopt_failing_once(db: sqlite3.Connection, existing: Callable[[], Iterable[str]]) -> None:
        nonlocal scans
        scans += 1
        if scans == 1:
            raise OSError(errno.EMFILE, "Too many open files")
        real_adopt(db, existing)

    monkeypatch.setattr(blob_refs, "_adopt", adopt_failing_once)
    store = FileBlobStore(tmp_path / "blobs")
    failed, stored = await asyncio.gather(
        store.put(ATTACHMENT), store.put(ATTACHMENT), return_exceptions=True
    )
    assert isinstance(failed, Exception)  # told it failed
    assert not isinstance(stored, BaseException)
    assert pins_of(store) == {stored.sha256: 1}  # the second mail still holds it
    assert await store.get(stored.sha256) == ATTACHMENT
    await store.close()


async def test_a_call_raising_stop_iteration_stalls_no_call_queued_with_it(
    tmp_path: Path,
) -> None:
    """`next(cursor)` on an empty result raises StopIteration, which an asyncio future
    cannot hold: that call fails alone, and the calls that went in its trip still return."""
    connection = SqliteConnection(tmp_path / "t.sqlite", "CREATE TABLE t (k TEXT);")
    busy, go_on = threading.Event(), threading.Event()

    def hold_the_thread(db: sqlite3.Connection) -> None:
        busy.set()
        go_on.wait(10)

    first = asyncio.ensure_future(connection.run(hold_the_thread))
    assert await asyncio.to_thread(busy.wait, 10)
    queued = [
        asyncio.ensure_future(connection.run(lambda db: next(db.execute("SELECT k FROM t")))),
        asyncio.ensure_future(connection.run(lambda db: db.execute("SELECT 7").fetchone()[0])),
    ]
    go_on.set()
    await first
    empty, seven = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 10)
    assert isinstance(empty, RuntimeError)
    assert seven == 7
    await connection.close()


async def test_a_cancelled_settle_is_recorded_before_the_mails_release_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ingest releases a mail's blobs when its settle is cancelled (a dropped connection):
    the release must come after the settle that was queued, or the blob is removed while
    the references still name it."""
    store = FileBlobStore(tmp_path / "blobs")
    ref = await store.put(ATTACHMENT)
    busy, go_on = threading.Event(), threading.Event()
    real_publish = durable_files.publish

    def slow_publish(tmp: Path, data: bytes, final: Path, **options: bool) -> None:
        if data == b"another mail":
            busy.set()
            go_on.wait(10)
        real_publish(tmp, data, final, **options)

    monkeypatch.setattr(durable_files, "publish", slow_publish)
    # Another mail's put holds the writes' group while this mail's settle queues behind it.
    other = asyncio.ensure_future(store.put(b"another mail"))
    assert await asyncio.to_thread(busy.wait, 10)

    async def hand_off() -> None:  # as ingest: a cancelled settle, then the release
        try:
            await store.settle([ref])
        except asyncio.CancelledError:
            await store.release([ref])
            raise

    handing_off = asyncio.ensure_future(hand_off())
    await asyncio.sleep(0)  # one turn of the loop: the settle reaches its queue
    handing_off.cancel()
    await asyncio.sleep(0)  # one turn: a release not held back reaches the thread first
    go_on.set()
    await other
    with pytest.raises(asyncio.CancelledError):
        await handing_off
    referenced = await store.references.is_referenced(ref.sha256)
    assert referenced == store.path_of(ref.sha256).exists()
    await store.close()


async def test_a_group_whose_process_raises_stop_iteration_fails_and_ends() -> None:
    """Its callers are told it failed, and the group ends (close waits on it)."""

    def process(items: Sequence[int]) -> list[int]:
        return [next(iter(()))]

    with ThreadPoolExecutor(max_workers=1) as thread:
        group: GroupCommit[int, int] = GroupCommit(thread, process)
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(group.submit(1), 10)
        await asyncio.wait_for(group.drained(), 10)
