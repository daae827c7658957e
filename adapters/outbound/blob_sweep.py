"""The blob store's sweep as a task of the running service: once at start, then every
SWEEP_INTERVAL, in each process that takes mail (SMTP, IMAP). Several processes, on one node
or on several sharing a blob directory or database, may sweep at once: each removal is decided
in a transaction (blob_refs, postgres_blob_refs, postgres_blob_store)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.postgres_blob_store import PostgresBlobStore

log = structlog.get_logger()

SWEEP_INTERVAL = timedelta(hours=1)


async def sweep_blobs(store: FileBlobStore | PostgresBlobStore, grace: timedelta) -> None:
    """One sweep; a failure is logged, never raised (the next round tries again)."""
    try:
        swept = await store.sweep(grace)
    except Exception:
        log.exception("blob_sweep_failed")
        return
    if swept.blobs or swept.temporary_files or swept.pointers:
        log.info(
            "blob_sweep",
            blobs=swept.blobs,
            temporary_files=swept.temporary_files,
            pointers=swept.pointers,
            bytes_freed=swept.bytes_freed,
        )


async def sweep_blobs_periodically(
    store: FileBlobStore | PostgresBlobStore, grace: timedelta, interval: timedelta = SWEEP_INTERVAL
) -> None:
    while True:
        await sweep_blobs(store, grace)
        await asyncio.sleep(interval.total_seconds())
