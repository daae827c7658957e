"""Retention's purge on real stores (SQLite and a blob directory, a directory with its
references in PostgreSQL, PostgreSQL alone): mail placed by the real ingest now, the purge
run with a clock 31 days on (it takes its clock: nobody waits), one thread completed 31 days
before it and one 1 day before (the completions are ours to set). Only the old thread's
blobs go; a blob the recent thread shares stays until it too is past retention; a dry run
removes nothing."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.inbound.mime import parse_email
from adapters.outbound.blob_store import FileBlobStore, blobs_under
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.postgres_pool import Database
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.thread_index import SqliteThreadIndex
from orchestrator.purge import thread_blobs
from tests.fakes import FakeThreadCompletions, FakeThreadGateway
from use_cases.ingest import ingest_email
from use_cases.ports import BlobNotFound
from use_cases.retention import GONE, PurgeReport, purge_expired
from use_cases.threading import Threading

SUPPORT = "support@mailroom.local"
PLACED = datetime.now(UTC)  # when the tests' mail is stored
NOW = PLACED + timedelta(days=31)  # the purge's clock
RETENTION = timedelta(days=30)
OLD_ONLY = b"the old thread's own attachment " * 100
SHARED = b"a price list both threads were sent " * 100
RECENT_ONLY = b"the recent thread's own attachment " * 100


@dataclass
class Stack:
    index: SqliteThreadIndex | PostgresThreadIndex
    blobs: FileBlobStore | PostgresBlobStore
    completions: FakeThreadCompletions

    async def place(self, message_id: str, *attachments: bytes, in_reply_to: str = "") -> str:
        ingested = await ingest_email(
            mail(message_id, attachments, in_reply_to),
            mailboxes=[SUPPORT],
            gateway=FakeThreadGateway(),
            parse=parse_email,
            blobs=self.blobs,
            threading=Threading(index=self.index, secret=b"retention-test"),
        )
        return ingested.thread_ids[0]

    async def purge(self, *, now: datetime = NOW, dry_run: bool = False) -> PurgeReport:
        return await purge_expired(
            thread_blobs(self.index),
            self.blobs,
            self.completions,
            now=now,
            retention=RETENTION,
            dry_run=dry_run,
            batch=1,  # one thread a batch: a blob's holders span batches
        )

    async def kept(self, data: bytes) -> bool:
        try:
            return await self.blobs.get(sha256_of(data)) == data
        except BlobNotFound:
            return False


@pytest.fixture(params=["sqlite", "directory+postgres", "postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    database = None
    if request.param == "sqlite":
        made = Stack(
            SqliteThreadIndex(tmp_path / "threads.sqlite"),
            FileBlobStore(tmp_path / "blobs"),
            FakeThreadCompletions(),
        )
    else:
        url = request.getfixturevalue("postgres_url")
        migrate(url)
        database = Database(url)
        directory = tmp_path / "mount"
        blobs: FileBlobStore | PostgresBlobStore = (
            PostgresBlobStore(database)
            if request.param == "postgres"
            else FileBlobStore(
                directory,
                references=PostgresBlobReferences(database, lambda: blobs_under(directory)),
            )
        )
        made = Stack(PostgresThreadIndex(database), blobs, FakeThreadCompletions())
    yield made
    await made.blobs.close()
    await made.index.close()
    if database is not None:
        await database.close()


async def test_only_the_blobs_of_a_thread_past_retention_are_removed(stack: Stack) -> None:
    old = await stack.place("<old@example.com>", OLD_ONLY, SHARED)
    recent = await stack.place("<recent@example.com>", SHARED, RECENT_ONLY)
    stack.completions.completed = {old: NOW - timedelta(days=31), recent: NOW - timedelta(days=1)}

    report = await stack.purge()

    assert (report.threads, report.blobs) == (1, 2)  # the old raw mail and its own attachment
    assert report.bytes > len(OLD_ONLY)
    assert not await stack.kept(OLD_ONLY)
    assert await stack.kept(SHARED)  # the recent thread holds it
    assert await stack.kept(RECENT_ONLY)
    with pytest.raises(BlobNotFound):
        await stack.blobs.raw("<old@example.com>")
    assert b"recent@example.com" in await stack.blobs.raw("<recent@example.com>")


async def test_a_shared_blob_goes_once_its_last_thread_is_past_retention(stack: Stack) -> None:
    old = await stack.place("<old@example.com>", SHARED)
    recent = await stack.place("<recent@example.com>", SHARED)
    stack.completions.completed = {old: NOW - timedelta(days=31), recent: NOW - timedelta(days=1)}
    await stack.purge()
    assert await stack.kept(SHARED)

    report = await stack.purge(now=NOW + timedelta(days=30))

    assert (report.threads, report.blobs) == (1, 2)  # the recent raw mail and SHARED
    assert not await stack.kept(SHARED)


async def test_an_open_thread_keeps_a_blob_it_shares_with_a_thread_long_past(
    stack: Stack,
) -> None:
    old = await stack.place("<old@example.com>", SHARED)
    await stack.place("<open@example.com>", SHARED)
    stack.completions.completed = {old: PLACED}

    await stack.purge(now=NOW + timedelta(days=400))

    assert await stack.kept(SHARED)


async def test_a_blob_stored_again_since_its_threads_completed_stays(stack: Stack) -> None:
    """A new mail with the same bytes, handed off but not yet in the index (its thread's
    record comes after the signal): settled after the retention cutoff, it is kept."""
    old = await stack.place("<old@example.com>", SHARED)
    between = datetime.now(UTC)
    stack.completions.completed = {old: between}
    await stack.blobs.settle([await stack.blobs.put(SHARED)])

    report = await stack.purge(now=between + RETENTION)  # its cutoff: between the two

    assert await stack.kept(SHARED)
    assert report.blobs == 1  # the old raw mail


async def test_a_dry_run_reports_what_a_purge_removes_and_removes_nothing(stack: Stack) -> None:
    old = await stack.place("<old@example.com>", OLD_ONLY, SHARED)
    other_old = await stack.place("<older@example.com>", SHARED)
    stack.completions.completed = {
        old: NOW - timedelta(days=31),
        other_old: NOW - timedelta(days=45),
    }

    dry = await stack.purge(dry_run=True)

    assert all([await stack.kept(OLD_ONLY), await stack.kept(SHARED)])
    done = await stack.purge()
    assert (dry.threads, dry.blobs, dry.bytes) == (done.threads, done.blobs, done.bytes)
    assert (done.threads, done.blobs, dry.dry_run) == (2, 4, True)  # two raw mails, 2 files
    assert not await stack.kept(SHARED)
    assert (await stack.purge()).blobs == 0  # nothing is looked at twice


async def test_a_late_replys_blob_the_purge_keeps_is_still_held_by_its_thread(
    stack: Stack,
) -> None:
    """A reply reopens a thread long past retention between Temporal's answer (closed) and
    the purge's removal: its new blob stays (stored since the cutoff), and the thread still
    holds it, so erasure finds it and a later purge removes it."""
    old = await stack.place("<old@example.com>", OLD_ONLY)
    stack.completions.completed = {old: PLACED - timedelta(days=31)}  # told before the reply
    assert (
        await stack.place("<late@example.com>", RECENT_ONLY, in_reply_to="<old@example.com>") == old
    )

    await stack.purge(now=PLACED + timedelta(days=1))
    assert await stack.kept(RECENT_ONLY)
    stack.completions.completed = {old: PLACED}  # the reopened run completed

    await stack.purge(now=NOW)
    assert not await stack.kept(RECENT_ONLY)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mail(message_id: str, attachments: tuple[bytes, ...], in_reply_to: str = "") -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="file{n}.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data).decode().replace("\n", "\r\n")
        for n, data in enumerate(attachments)
    )
    return (
        f"From: alice@example.com\r\nTo: {SUPPORT}\r\nMessage-ID: {message_id}\r\n"
        + (f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else "")
        + "Subject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n{parts}--b--\r\n"
    ).encode()


async def test_a_thread_temporal_no_longer_knows_keeps_its_blobs_until_past_its_last_mail(
    stack: Stack,
) -> None:
    """Temporal answers NOT_FOUND for a thread whose history it lost (its database reset,
    the installation pointed at another server or namespace) as for one past its retention:
    mail placed within retention stays, and goes once its last mail is past retention."""
    lost = await stack.place("<lost@example.com>", RECENT_ONLY)
    stack.completions.completed = {lost: GONE}

    report = await stack.purge(now=PLACED + timedelta(days=1))

    assert (report.threads, report.blobs) == (0, 0)
    assert await stack.kept(RECENT_ONLY)
    assert (await stack.purge()).blobs == 2  # 31 days on: its raw mail and its attachment
    assert not await stack.kept(RECENT_ONLY)


async def test_a_blob_every_thread_holds_costs_one_lookup_per_thread_per_purge(
    stack: Stack,
) -> None:
    """A company's logo in every signature: one blob held by every thread. Asking Temporal
    about all its holders in every batch would make a purge quadratic in the threads."""
    logo = b"the same signature logo in every mail " * 100
    threads = [await stack.place(f"<m{n}@example.com>", logo) for n in range(12)]
    stack.completions.completed = {t: PLACED for t in threads[:6]}  # the others still open
    asked: list[str] = []
    told = stack.completions.completed_at

    async def counted(workflow_ids: Sequence[str]) -> dict[str, datetime | None]:
        asked.extend(workflow_ids)
        return await told(workflow_ids)

    stack.completions.completed_at = counted  # type: ignore[method-assign]

    report = await stack.purge()

    assert len(asked) <= len(threads)
    assert (report.threads, report.blobs) == (6, 6)  # their raw mails; the logo stays
    assert await stack.kept(logo)
