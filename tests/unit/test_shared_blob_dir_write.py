"""A put into a blob directory nodes share (NFS) must not trust a cached "the file exists":
another node may have removed the file a moment ago, and the client's attribute cache can
still say it is there. The blob must be on disk after the put, whatever the cache says."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.outbound.blob_refs import BlobReferences
from adapters.outbound.blob_store import FileBlobStore


def shared_store(tmp_path: Path) -> FileBlobStore:
    """References kept apart from the directory, as nodes sharing it keep them (PostgreSQL)."""
    return FileBlobStore(tmp_path / "share", BlobReferences(tmp_path / "refs.sqlite", list))


async def test_a_put_writes_the_blob_when_a_stale_cache_says_another_node_left_it_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = shared_store(tmp_path)
    monkeypatch.setattr(Path, "exists", lambda self: True)  # the cache: removed elsewhere
    ref = await store.put(b"removed by another node, the cache not told")
    monkeypatch.undo()
    assert await store.get(ref.sha256) == b"removed by another node, the cache not told"
    await store.close()


async def test_a_put_into_a_shared_directory_keeps_a_blob_already_there(tmp_path: Path) -> None:
    store = shared_store(tmp_path)
    first = await store.put(b"the same attachment twice")
    written = store.path_of(first.sha256).stat().st_mtime_ns
    again = await store.put(b"the same attachment twice")
    assert again == first
    assert store.path_of(first.sha256).stat().st_mtime_ns == written  # not written twice
    await store.close()
