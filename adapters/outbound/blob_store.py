"""BlobStore on the local file system: content-addressed files under `<data dir>/blobs`.

A blob's name is its address, a keyed hash of its bytes, so writing is idempotent (a retry or a
second copy of the same attachment costs nothing); its file holds the bytes sealed with the
installation's keys (blob_sealing: given `sealing`; without, the plain bytes under their
sha256, as blobs were stored before, and as such blobs are still read). Files are
written to a temporary name, fsynced, renamed and the rename fsynced (durable_files), so a
crash never leaves a partial blob under a valid name and a power loss never loses one that
was handed to a thread; a failed write removes its temporary file. Concurrent puts are
group-committed (blob_writes, and the references' pins and settles: blob_refs): one trip
to the writer thread and one fsync per directory for the files written together. Received
messages are also remembered by Message-ID (`raw/`, under a keyed hash of it: blob_sealing
message_key), so an operator can reprocess one.
That pointer is written atomically but not fsynced (one fsync fewer per mail, ~0.3 ms of
CPU): the thread holds the raw blob's reference anyway, and a pointer a power loss left empty
reads as "not kept".

What a thread holds is recorded (blob_refs.py): a refused mail's blobs are removed at once
unless an accepted mail holds them too, and `sweep` removes, after a grace period, what a
crash or a failed write left: temporary files, blobs no thread holds, dangling pointers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from adapters.outbound.blob_refs import BlobReferences, PinNotRecorded, References, Settle
from adapters.outbound.blob_sealing import (
    BlobSealing,
    address_with,
    message_key_with,
    message_keys_with,
    open_with,
    seal_with,
)
from adapters.outbound.blob_writes import BlobWrite, write_group
from adapters.outbound.group_commit import GroupCommit
from use_cases.mail import BlobRef
from use_cases.ports import BlobNotFound

REFERENCES_FILE = "blob_refs.sqlite"  # beside the blobs directory, in the data dir
RAW_POINTERS = "raw"
# Hash and seal bigger blobs off the event loop (HMAC-SHA256 and AES-GCM together run at
# ~0.6 GB/s: 64 KB is ~100 µs).
HASH_IN_THREAD_BYTES = 64 * 1024
SWEEP_BATCH = 500  # blobs checked per transaction: other writers wait at most one batch
# The shortest grace the sweep uses, whatever it is given (MAILROOM_BLOB_GRACE's minimum): a
# hand-off in progress, or a clock set forward by minutes, must never make a pin look stale.
MIN_SWEEP_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Swept:
    blobs: int = 0
    temporary_files: int = 0
    pointers: int = 0
    bytes_freed: int = 0


class FileBlobStore:
    def __init__(
        self,
        root: Path,
        references: Path | References | None = None,
        *,
        sealing: BlobSealing | None = None,
    ) -> None:
        """`references`: the SQLite file of pins and references (default: beside `root`),
        or where nodes sharing `root` record them (PostgresBlobReferences). `sealing`: the
        keys blobs are sealed and named with (mailroom always gives them)."""
        self.root = root
        self.sealing = sealing
        # References kept elsewhere mean other nodes write and remove in `root` too (NFS).
        self.shared = references is not None and not isinstance(references, Path)
        self.references: References = (
            BlobReferences(references or root.parent / REFERENCES_FILE, self._blobs_on_disk)
            if references is None or isinstance(references, Path)
            else references
        )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-writes")

        def write(writes: Sequence[BlobWrite]) -> list[Exception | None]:
            return write_group(writes, self._is_there)

        def write_only(items: Sequence[BlobWrite | Settle]) -> list[Exception | None]:
            return write([item for item in items if isinstance(item, BlobWrite)])

        # Pins and settles in SQLite go with the writes, on its thread: one trip per group.
        self._pins_with_writes = isinstance(self.references, BlobReferences)
        self._writes: GroupCommit[BlobWrite | Settle, None] = (
            self.references.pinned_writes(write)
            if isinstance(self.references, BlobReferences)
            else GroupCommit(self._writer, write_only)
        )

    def path_of(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise BlobNotFound(f"not a sha256: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def address_of(self, data: bytes) -> str:
        """The address `put` stores `data` under (tests; what a thread's reference holds)."""
        return address_with(self.sealing, data)

    async def put(self, data: bytes) -> BlobRef:
        return await self._store(data, message_id=None)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._get, sha256)

    async def keep_raw(self, message_id: str, raw: bytes) -> BlobRef:
        return await self._store(raw, message_id=message_id)

    async def _store(self, data: bytes, *, message_id: str | None) -> BlobRef:
        """The blob, durable, and (`message_id`) its raw pointer; the pin is dropped again
        if the write fails."""
        big = len(data) > HASH_IN_THREAD_BYTES
        sealing = self.sealing
        ref, stored = (
            await asyncio.to_thread(seal_with, sealing, data) if big else seal_with(sealing, data)
        )
        path = self.path_of(ref.sha256)
        pointer = None if message_id is None else self._raw_pointer(message_id)
        if not self._pins_with_writes:  # before looking for the file: see blob_refs
            await self.references.pin(ref.sha256)
        outcome = self._writes.enqueue(BlobWrite(path, stored, ref.sha256, pointer))
        try:
            await asyncio.shield(outcome)
        except BaseException:
            await self._release_once_done(outcome, ref, message_id)
            raise
        return ref

    async def _release_once_done(
        self, outcome: asyncio.Future[None], ref: BlobRef, message_id: str | None
    ) -> None:
        """Drop the pin of a write that failed or whose caller was cancelled, once its group
        is done: until then whether it pinned is not known, and dropping a pin it did not
        make would drop another mail's. A second cancellation leaves the pin to the sweep."""
        if not outcome.done():
            await asyncio.wait([outcome])
        if outcome.cancelled() or isinstance(outcome.exception(), PinNotRecorded):
            return
        await self.release([ref], message_id=message_id)

    async def raw(self, message_id: str) -> bytes:
        return await asyncio.to_thread(self._raw, message_id)

    async def settle(self, refs: Sequence[BlobRef]) -> None:
        await self.references.settle([ref.sha256 for ref in refs])

    async def release(self, refs: Sequence[BlobRef], *, message_id: str | None = None) -> None:
        removed = await self.references.release([ref.sha256 for ref in refs], self._remove)
        if message_id is not None and removed:
            await asyncio.to_thread(self._forget_pointer, self._raw_pointer(message_id), removed)

    async def sweep(self, grace: timedelta, *, now: float | None = None) -> Swept:
        """Remove temporary files, blobs no thread holds and dangling raw pointers, each
        only when older than `grace` (a write or a hand-off in progress is younger), and
        never than MIN_SWEEP_GRACE: a forward clock jump ages every pin by its size."""
        grace = max(grace, MIN_SWEEP_GRACE)
        # Which files are old enough to look at: this clock. Whether a pin is stale: the
        # clock that stamped it (the references', given the grace).
        cutoff = (time.time() if now is None else now) - grace.total_seconds()
        old_blobs, temporary = await asyncio.to_thread(self._scan, cutoff)
        sizes: dict[str, int] = {}

        def remove(sha256: str) -> None:
            sizes[sha256] = self._remove(sha256)

        removed: list[str] = []
        for start in range(0, len(old_blobs), SWEEP_BATCH):
            batch = old_blobs[start : start + SWEEP_BATCH]
            removed += await self.references.remove_unheld(batch, grace, remove, now=now)
        pointers = await asyncio.to_thread(self._sweep_pointers, cutoff)
        return Swept(
            blobs=len(removed),
            temporary_files=temporary[0] + pointers[1],
            pointers=pointers[0],
            bytes_freed=sum(sizes.values()) + temporary[1],
        )

    async def sizes(self, shas: Sequence[str]) -> dict[str, int]:
        """The size of each of `shas` stored here (a retention dry run)."""
        return await asyncio.to_thread(lambda: _sizes(self, shas))

    async def remove_for_good(
        self, shas: Sequence[str], *, settled_before: datetime | None = None
    ) -> dict[str, int]:
        """Retention and erasure: drop the references of `shas` and remove their files,
        except one a mail is storing right now (its pin keeps it for that mail) or, with
        `settled_before`, settled since (BlobReferences.forget). The size of each removed;
        raw pointers left dangling go with the next sweep."""
        sizes: dict[str, int] = {}

        def remove(sha256: str) -> None:
            size = self._remove(sha256)
            if size:
                sizes[sha256] = size

        await self.references.forget(shas, remove, settled_before=settled_before)
        return sizes

    async def close(self) -> None:
        await self._writes.drained()
        self._writer.shutdown(wait=False)
        await self.references.close()

    def _is_there(self, path: Path, size: int) -> bool:
        if not self.shared:
            return path.exists()
        # On NFS, exists() may answer from the client's attribute cache (seconds old): a file
        # another node removed under the blob's lock could look present, and the put would
        # skip the write. Opening revalidates with the server (close-to-open consistency),
        # and fstat of the open file reads its attributes fresh.
        try:
            with path.open("rb") as blob:
                return os.fstat(blob.fileno()).st_size == size
        except OSError:  # gone (ENOENT), or removed under a cached handle (ESTALE)
            return False

    def _remove(self, sha256: str) -> int:
        path = self.path_of(sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def _get(self, sha256: str) -> bytes:
        try:
            stored = self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None
        return open_with(self.sealing, sha256, stored)

    def _raw_pointer(self, message_id: str) -> Path:
        return self.root / RAW_POINTERS / message_key_with(self.sealing, message_id)

    def _raw(self, message_id: str) -> bytes:
        for name in message_keys_with(self.sealing, message_id):
            try:
                sha256 = (self.root / RAW_POINTERS / name).read_text().strip()
                return self._get(sha256)
            except (FileNotFoundError, BlobNotFound):
                continue
        raise BlobNotFound(f"no raw message kept for {message_id}")

    def _forget_pointer(self, pointer: Path, removed: Sequence[str]) -> None:
        try:
            if pointer.read_text().strip() in removed:
                pointer.unlink()
        except FileNotFoundError:
            pass

    def _blobs_on_disk(self) -> Iterator[str]:
        return blobs_under(self.root)

    def _scan(self, cutoff: float) -> tuple[list[str], tuple[int, int]]:
        """Blobs last changed before `cutoff`; removes temporary files older than it
        (returns their count and bytes)."""
        old_blobs: list[str] = []
        removed = freed = 0
        for folder in _folders(self.root):
            for entry in _entries(folder):
                stat = _stat(entry)
                if stat is None or stat.st_mtime >= cutoff:
                    continue
                if is_sha256(entry.name):
                    old_blobs.append(entry.name)
                elif _is_temporary(entry.name) and _unlink(Path(entry.path)):
                    removed += 1
                    freed += stat.st_size
        return old_blobs, (removed, freed)

    def _sweep_pointers(self, cutoff: float) -> tuple[int, int]:
        """Raw pointers whose blob is gone, and temporary files, older than `cutoff`."""
        pointers = temporary = 0
        for entry in _entries(self.root / RAW_POINTERS):
            stat = _stat(entry)
            if stat is None or stat.st_mtime >= cutoff:
                continue
            if _is_temporary(entry.name):
                temporary += _unlink(Path(entry.path))
                continue
            try:
                target = Path(entry.path).read_text().strip()
            except FileNotFoundError:
                continue
            if not is_sha256(target) or not self.path_of(target).exists():
                pointers += _unlink(Path(entry.path))
        return pointers, temporary


def _sizes(store: FileBlobStore, shas: Sequence[str]) -> dict[str, int]:
    sizes = {}
    for sha in shas:
        try:
            sizes[sha] = store.path_of(sha).stat().st_size
        except (FileNotFoundError, BlobNotFound):
            continue
    return sizes


def blobs_under(root: Path) -> Iterator[str]:
    """The sha256 of every blob in the directory `root`."""
    for folder in _folders(root):
        for entry in _entries(folder):
            if is_sha256(entry.name):
                yield entry.name


def is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")  # durable_files.write_atomically


def _folders(root: Path) -> Iterator[Path]:
    """The fan-out folders `blobs/<2 hex>`."""
    for entry in _entries(root):
        hex_name = len(entry.name) == 2 and all(c in "0123456789abcdef" for c in entry.name)
        if hex_name and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
