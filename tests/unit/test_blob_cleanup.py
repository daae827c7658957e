"""Refused mail leaves nothing on disk, and no blob a thread refers to is ever removed:
neither when a refused mail shares an attachment with an accepted one, nor by the sweep
(a hand-off in progress, a crashed writer's leftovers, blobs from before references were
recorded). Real FileBlobStore and real parsing; only the thread gateway is a fake."""

from __future__ import annotations

import base64
import errno
import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.inbound.mime import parse_email
from adapters.outbound import durable_files
from adapters.outbound.blob_refs import BlobReferences
from adapters.outbound.blob_store import FileBlobStore
from tests.fakes import FakeThreadGateway
from use_cases.claim_check import PayloadTooLarge
from use_cases.ingest import ingest_email
from use_cases.mail import BlobRef
from use_cases.ports import BlobNotFound, HandoffFailed

SUPPORT = "support@mailroom.local"
GRACE = timedelta(hours=1)
SHARED = b"the quarterly report, shared by two mails " * 200
TEXT = ("words " * 12 + "end\r\n") * 430  # 32 250 characters: cut to 32 000 in a signal


def attachment(name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    return (
        f"--b\r\nContent-Type: {content_type}\r\n"
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data).decode().replace("\n", "\r\n")
    )


def mail(message_id: str, parts: list[str], to: str = SUPPORT, cc: str = "") -> bytes:
    headers = (
        f"From: alice@example.com\r\nTo: {to}\r\nCc: {cc}\r\nMessage-ID: {message_id}\r\n"
        "Subject: files\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    )
    return (headers + "".join(parts) + "--b--\r\n").encode()


def refused_mail(message_id: str) -> bytes:
    """Too big for a signal even after the claim-check (over 256 KB of what a signal
    carries: 100 long addresses in To and Cc, 200 attachments with long names and types,
    33 000 characters of text in lines), one of its attachments the SHARED one."""
    addresses = ",\r\n ".join(f"{'x' * 60}{i:03d}@{'d' * 240}.example" for i in range(100))
    long_type = "application/x-" + "y" * 200
    parts = [f"--b\r\nContent-Type: text/plain\r\n\r\n{TEXT}\r\n"]
    parts.append(attachment("shared.pdf", SHARED))
    parts += [attachment("n" * 250 + str(i), os.urandom(2048), long_type) for i in range(199)]
    return mail(message_id, parts, to=f"{SUPPORT}, {addresses}", cc=addresses)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def age_pins(store: FileBlobStore, seconds: float) -> None:
    """As if the writers that pinned blobs so far had died that long ago."""
    assert isinstance(store.references, BlobReferences)
    with sqlite3.connect(store.references.path) as db:
        db.execute("UPDATE pinned SET since = since - ?", (seconds,))


async def ingest(raw: bytes, store: FileBlobStore, gateway: FakeThreadGateway) -> None:
    await ingest_email(raw, mailboxes=[SUPPORT], gateway=gateway, parse=parse_email, blobs=store)


@pytest.fixture
async def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


async def test_a_refused_mail_leaves_nothing_behind(store: FileBlobStore) -> None:
    await store.put(b"warm up: the folders and the references file exist")
    before = files_under(store.root)
    with pytest.raises(PayloadTooLarge):
        await ingest(refused_mail("<refused@example.com>"), store, FakeThreadGateway())
    assert files_under(store.root) == before
    with pytest.raises(BlobNotFound):
        await store.raw("<refused@example.com>")


async def test_a_refused_mail_never_removes_the_attachment_an_accepted_mail_holds(
    store: FileBlobStore,
) -> None:
    gateway = FakeThreadGateway()
    await ingest(mail("<accepted@example.com>", [attachment("shared.pdf", SHARED)]), store, gateway)
    (accepted,) = [m for _, m in gateway.handed_off]
    with pytest.raises(PayloadTooLarge):
        await ingest(refused_mail("<refused@example.com>"), store, gateway)
    assert accepted.raw_blob is not None
    for ref in [accepted.raw_blob, *(a.blob for a in accepted.attachments if a.blob)]:
        assert store.path_of(ref.sha256).exists(), ref
    assert await store.get(accepted.attachments[0].sha256) == SHARED
    assert (await store.raw("<accepted@example.com>")).startswith(b"From: alice")
    # The refused mail's own blobs are gone: only the accepted mail's two remain.
    assert len([p for p in files_under(store.root) if p.parent.name != "raw"]) == 2


async def test_a_mail_being_stored_keeps_the_attachment_a_refused_mail_shares(
    store: FileBlobStore,
) -> None:
    """Another mail (another process) has put the same attachment and not yet handed it
    off: the refusal of this one must not take the file from under it."""
    in_progress = await store.put(SHARED)
    with pytest.raises(PayloadTooLarge):
        await ingest(refused_mail("<refused@example.com>"), store, FakeThreadGateway())
    assert store.path_of(in_progress.sha256).exists()
    await store.settle([in_progress])
    assert (await store.sweep(GRACE, now=time.time() + 10 * GRACE.total_seconds())).blobs == 0
    assert store.path_of(in_progress.sha256).exists()


async def test_a_hand_off_that_may_have_reached_temporal_keeps_its_blobs(
    store: FileBlobStore,
) -> None:
    """A timed-out signal may still have been applied: the thread could hold the blobs."""
    gateway = FakeThreadGateway()
    gateway.fail_with = "Temporal did not accept the message: deadline exceeded"
    raw = mail("<maybe@example.com>", [attachment("a.pdf", b"maybe delivered")])
    with pytest.raises(HandoffFailed):
        await ingest(raw, store, gateway)
    kept = files_under(store.root)
    assert len([p for p in kept if p.parent.name != "raw"]) == 2  # raw mail and attachment
    later = time.time() + 10 * GRACE.total_seconds()
    assert (await store.sweep(GRACE, now=later)).blobs == 0
    assert files_under(store.root) == kept


async def test_the_sweep_removes_only_old_blobs_no_thread_holds(store: FileBlobStore) -> None:
    gateway = FakeThreadGateway()
    await ingest(mail("<held@example.com>", [attachment("held.pdf", SHARED)]), store, gateway)
    held = files_under(store.root)
    # What a crash between write and hand-off leaves: a blob pinned by a dead writer, its
    # raw pointer, and a temporary file of an interrupted write.
    orphan = await store.keep_raw("<crashed@example.com>", b"From: crashed\r\n\r\nbody\r\n")
    orphan_path = store.path_of(orphan.sha256)
    temporary = orphan_path.with_name(f".{orphan.sha256}.0123.tmp")
    temporary.write_bytes(b"half a blob")
    for path in files_under(store.root):
        age(path, 2 * GRACE.total_seconds())
    age_pins(store, 2 * GRACE.total_seconds())

    # A hand-off in progress during the sweep, of a blob written long ago: its pin is fresh.
    in_progress = await store.put(b"an attachment being handed off right now")
    age(store.path_of(in_progress.sha256), 2 * GRACE.total_seconds())
    swept = await store.sweep(GRACE)

    assert swept.blobs == 1 and swept.pointers == 1 and swept.temporary_files == 1
    assert not orphan_path.exists() and not temporary.exists()
    assert held <= files_under(store.root)
    assert store.path_of(in_progress.sha256).exists()
    await store.settle([in_progress])
    assert (await store.sweep(GRACE, now=time.time() + 10 * GRACE.total_seconds())).blobs == 0
    assert files_under(store.root) == held | {store.path_of(in_progress.sha256)}


async def test_a_grace_under_ten_minutes_never_sweeps_a_pin_younger_than_that(
    store: FileBlobStore,
) -> None:
    """A clock set forward by 5 minutes ages a hand-off in progress by as much."""
    in_progress = await store.put(b"an attachment being handed off right now")
    age(store.path_of(in_progress.sha256), 300)
    age_pins(store, 300)
    assert (await store.sweep(timedelta(seconds=1))).blobs == 0
    assert store.path_of(in_progress.sha256).exists()
    age(store.path_of(in_progress.sha256), 700)
    age_pins(store, 400)  # a writer dead 11 minutes ago: its blob goes
    assert (await store.sweep(timedelta(seconds=1))).blobs == 1


async def test_the_grace_period_covers_a_blob_written_without_a_pin(
    store: FileBlobStore,
) -> None:
    """A blob written just now by a writer that recorded nothing (an older version of
    mailroom mid-upgrade) is younger than the grace period: the sweep leaves it."""
    await store.put(b"warm up")
    fresh = store.root / "ab" / ("ab" + "0" * 62)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"written by a hand-off in progress")
    assert (await store.sweep(GRACE)).blobs == 0
    assert fresh.exists()


async def test_blobs_from_before_references_were_recorded_are_kept(tmp_path: Path) -> None:
    """An upgraded installation: every blob already on disk may be held by a thread."""
    old = tmp_path / "blobs" / "cd" / ("cd" + "1" * 62)
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an attachment a thread received last year")
    age(old, 400 * 86400)
    store = FileBlobStore(tmp_path / "blobs")
    assert (await store.sweep(GRACE)).blobs == 0
    assert old.exists()


async def test_a_full_disk_during_the_claim_check_leaves_no_partial_files(
    store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC at the third blob: the temporary file and the two blobs written before it
    are removed, and the error reaches the caller (SMTP answers 452 4.3.1)."""
    await store.put(b"warm up")
    before = files_under(store.root)
    real_publish = durable_files.publish
    writes = 0

    def publish_until_full(tmp: Path, data: bytes, final: Path, **options: bool) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:

            def full(*_: object) -> None:
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(os, "fsync", full)
        real_publish(tmp, data, final, **options)

    monkeypatch.setattr(durable_files, "publish", publish_until_full)
    raw = mail("<full@example.com>", [attachment("a", b"first"), attachment("b", b"second")])
    with pytest.raises(OSError) as failure:
        await ingest(raw, store, FakeThreadGateway())
    assert failure.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert files_under(store.root) == before


async def test_releasing_twice_or_an_unknown_blob_is_harmless(store: FileBlobStore) -> None:
    ref = await store.put(b"once")
    await store.release([ref])
    await store.release([ref, BlobRef(sha256="e" * 64, size=1)])
    assert not store.path_of(ref.sha256).exists()
    again = await store.put(b"once")
    assert await store.get(again.sha256) == b"once"
