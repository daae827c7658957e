"""BlobStore on the local file system: content-addressed files under `<data dir>/blobs`.

A blob's name is its sha256, so writing is idempotent (a retry or a second copy of the same
attachment costs nothing) and a reference can be checked against the bytes. Files are
written to a temporary name, fsynced, renamed and the rename fsynced (durable_files), so a
crash never leaves a partial blob under a valid name and a power loss never loses one that
was handed to a thread. Received messages are also remembered by Message-ID (`raw/`), so an
operator can reprocess one. That pointer is written atomically but not fsynced (one fsync
fewer per received mail, ~0.3 ms of CPU): the thread holds the raw blob's reference
anyway, and a pointer a power loss left empty reads as "not kept".
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from adapters.outbound.durable_files import make_directory, sync_directory, write_atomically
from use_cases.mail import BlobRef
from use_cases.ports import BlobNotFound


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise BlobNotFound(f"not a sha256: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    async def put(self, data: bytes) -> BlobRef:
        return await asyncio.to_thread(self._put, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._get, sha256)

    async def keep_raw(self, message_id: str, raw: bytes) -> BlobRef:
        return await asyncio.to_thread(self._keep_raw, message_id, raw)

    async def raw(self, message_id: str) -> bytes:
        return await asyncio.to_thread(self._raw, message_id)

    def _put(self, data: bytes) -> BlobRef:
        ref = BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        path = self.path_of(ref.sha256)
        if path.exists():
            # Written before, maybe by a writer still short of its directory's fsync.
            make_directory(path.parent)
            sync_directory(path.parent)
        else:
            write_atomically(path, data)
        return ref

    def _get(self, sha256: str) -> bytes:
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None

    def _raw_pointer(self, message_id: str) -> Path:
        return self.root / "raw" / hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()

    def _keep_raw(self, message_id: str, raw: bytes) -> BlobRef:
        ref = self._put(raw)
        write_atomically(self._raw_pointer(message_id), ref.sha256.encode(), durable=False)
        return ref

    def _raw(self, message_id: str) -> bytes:
        try:
            sha256 = self._raw_pointer(message_id).read_text().strip()
            return self._get(sha256)
        except (FileNotFoundError, BlobNotFound):
            raise BlobNotFound(f"no raw message kept for {message_id}") from None
