"""The sweep runs as a task of the service: at once on start, then every interval; a
failing round is logged and the next one runs."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from adapters.outbound.blob_store import FileBlobStore, Swept
from adapters.outbound.blob_sweep import sweep_blobs_periodically
from orchestrator.bootstrap import Wiring
from orchestrator.services import start_blob_sweep
from tests.support import wait_for

GRACE = timedelta(hours=1)


def left_by_a_crash(store: FileBlobStore) -> Path:
    """A temporary file of an interrupted write, older than the grace period."""
    folder = store.root / "ab"
    folder.mkdir(parents=True)
    temporary = folder / f".{'ab' * 32}.0f0f.tmp"
    temporary.write_bytes(b"half a blob")
    then = time.time() - 2 * GRACE.total_seconds()
    os.utime(temporary, (then, then))
    return temporary


async def test_the_service_sweeps_at_start(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    temporary = left_by_a_crash(store)
    wiring = cast(Wiring, SimpleNamespace(blobs=store, settings=SimpleNamespace(blob_grace=GRACE)))
    async with AsyncExitStack() as stack:
        start_blob_sweep(wiring, stack)
        await wait_for(lambda: not temporary.exists(), what="the start-up sweep")
    await store.close()


class FlakyStore(FileBlobStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.rounds = 0

    async def sweep(self, grace: timedelta, *, now: float | None = None) -> Swept:
        self.rounds += 1
        if self.rounds == 1:
            raise OSError("the disk went away for a moment")
        return await super().sweep(grace, now=now)


async def test_a_failed_round_is_followed_by_the_next(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "blobs")
    temporary = left_by_a_crash(store)
    sweeping = sweep_blobs_periodically(store, GRACE, interval=timedelta(milliseconds=10))
    task = asyncio.create_task(sweeping)
    try:
        await wait_for(lambda: not temporary.exists(), what="the second round")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert store.rounds >= 2
    await store.close()
