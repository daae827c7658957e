"""The blob store's group commit: concurrent mails' writes share trips, commits and
directory fsyncs, yet each put or settle returns only once its own data is durable, a
failed write fails its own caller alone (or its whole group, loudly), and what was
acknowledged survives a SIGKILL of the process."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.outbound import blob_refs, durable_files
from adapters.outbound.blob_refs import BlobReferences, PinNotRecorded
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.group_commit import GroupCommit
from adapters.outbound.sqlite_connection import SqliteConnection

ROOT = Path(__file__).resolve().parents[2]
MAILS = 40


def pins_and_references(store: FileBlobStore) -> tuple[dict[str, int], set[str]]:
    """What another process reading the references file sees."""
    assert isinstance(store.references, BlobReferences)
    with sqlite3.connect(store.references.path) as db:
        pins = dict(db.execute("SELECT sha256, holders FROM pinned").fetchall())
        referenced = {row[0] for row in db.execute("SELECT sha256 FROM referenced")}
    return pins, referenced


async def test_concurrent_puts_are_each_on_disk_and_pinned_when_their_call_returns(
    tmp_path: Path,
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    seen_at_return: list[bool] = []

    async def one_mail(index: int) -> None:
        raw = f"mail {index}\r\n".encode() * 50
        ref = await store.keep_raw(f"<m{index}@example.com>", raw)
        pins, _ = pins_and_references(store)
        seen_at_return.append(
            store.path_of(ref.sha256).read_bytes() == raw and pins.get(ref.sha256) == 1
        )
        await store.settle([ref])
        _, referenced = pins_and_references(store)
        seen_at_return.append(ref.sha256 in referenced)

    await asyncio.gather(*(one_mail(i) for i in range(MAILS)))
    assert seen_at_return == [True] * (2 * MAILS)
    assert pins_and_references(store)[0] == {}  # every settle dropped its pin
    assert await store.raw("<m7@example.com>") == b"mail 7\r\n" * 50
    await store.close()


async def test_a_failed_write_in_a_group_fails_only_its_own_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    await store.put(b"warm up")
    doomed = b"the one mail the disk has no room for"
    real_publish = durable_files.publish

    def publish(tmp: Path, data: bytes, final: Path, **options: bool) -> None:
        if data == doomed:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_publish(tmp, data, final, **options)

    monkeypatch.setattr(durable_files, "publish", publish)
    others = [f"mail {i}".encode() for i in range(MAILS)]
    outcomes = await asyncio.gather(
        *(store.put(data) for data in [*others[:20], doomed, *others[20:]]),
        return_exceptions=True,
    )
    failed = outcomes.pop(20)
    assert isinstance(failed, OSError) and failed.errno == errno.ENOSPC
    refs = [ref for ref in outcomes if not isinstance(ref, BaseException)]
    assert [await store.get(ref.sha256) for ref in refs] == others
    doomed_sha = hashlib.sha256(doomed).hexdigest()
    assert not store.path_of(doomed_sha).exists()
    assert doomed_sha not in pins_and_references(store)[0]  # its pin was dropped again
    await store.close()


async def test_a_group_whose_commit_fails_fails_every_caller_in_it() -> None:
    """No caller is told its write is done when the group's commit (or fsync) failed."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        started = asyncio.Event()
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def process(items: Sequence[int]) -> list[int]:
            if items == [0]:  # the first trip holds the thread while the others queue
                loop.call_soon_threadsafe(started.set)
                asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
                return [0]
            raise OSError(errno.EIO, "commit failed")

        group: GroupCommit[int, int] = GroupCommit(thread, process)
        first = asyncio.ensure_future(group.submit(0))
        await asyncio.wait_for(started.wait(), 10)
        queued = [asyncio.ensure_future(group.submit(i)) for i in range(1, 6)]
        release.set()
        assert await first == 0
        outcomes = await asyncio.gather(*queued, return_exceptions=True)
        assert all(isinstance(o, OSError) and o.errno == errno.EIO for o in outcomes)


async def test_a_failing_write_in_a_shared_transaction_is_undone_alone(tmp_path: Path) -> None:
    connection = SqliteConnection(tmp_path / "t.sqlite", "CREATE TABLE t (k TEXT PRIMARY KEY);")

    async def insert(key: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO t VALUES (?)", (key,))
            if key == "bad":
                raise ValueError("this call's own failure")

        await connection.run_grouped(write, durable=True)

    keys = [f"k{i}" for i in range(10)]
    outcomes = await asyncio.gather(
        *(insert(k) for k in [*keys[:5], "bad", *keys[5:]]),
        return_exceptions=True,
    )
    assert isinstance(outcomes.pop(5), ValueError)
    assert outcomes == [None] * 10
    rows = await connection.run(lambda db: db.execute("SELECT k FROM t ORDER BY k").fetchall())
    assert sorted(k for (k,) in rows) == sorted(keys)
    await connection.close()


async def test_a_group_whose_pins_fail_tells_no_caller_success_and_drops_no_other_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    held = await store.put(b"an attachment a mail in progress holds")

    def locked(db: sqlite3.Connection, sha256: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(blob_refs, "_pin", locked)
    outcomes = await asyncio.gather(
        store.put(b"an attachment a mail in progress holds"),
        *(store.put(f"mail {i}".encode()) for i in range(10)),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, PinNotRecorded) for outcome in outcomes)
    monkeypatch.undo()
    assert pins_and_references(store)[0] == {held.sha256: 1}  # the first put's pin is intact
    assert not any(
        store.path_of(hashlib.sha256(f"mail {i}".encode()).hexdigest()).exists() for i in range(10)
    )
    await store.close()


WRITER = """
import asyncio, os, sys
from pathlib import Path
from adapters.outbound.blob_store import FileBlobStore

async def main() -> None:
    store = FileBlobStore(Path(sys.argv[1]))
    async def mails(worker: int) -> None:
        for index in range(10_000):
            raw = os.urandom(2000)
            ref = await store.keep_raw(f"<{worker}.{index}@example.com>", raw)
            await store.settle([ref])
            print(ref.sha256, flush=True)  # acknowledged: what SMTP answers 250 after
    await asyncio.gather(*(mails(w) for w in range(8)))

asyncio.run(main())
"""


async def test_every_acknowledged_blob_survives_a_sigkill_mid_group(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(root), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert writer.stdout is not None
    acknowledged: list[str] = []
    while len(acknowledged) < 200:
        line = await asyncio.wait_for(writer.stdout.readline(), 30)
        assert line, "the writer stopped before it was killed"
        acknowledged.append(line.decode().strip())
    os.kill(writer.pid, signal.SIGKILL)  # groups in flight: pins, files, commits
    acknowledged += (await writer.stdout.read()).decode().split()
    await writer.wait()

    store = FileBlobStore(root)
    for sha256 in acknowledged:
        assert hashlib.sha256(await store.get(sha256)).hexdigest() == sha256
        assert await store.references.is_referenced(sha256)
    await store.close()
