"""A received blob and a sent mail must survive a power loss once the SMTP 250 or the
"sent" is given: the file's bytes and then its name (the directory) are fsynced, in that
order. A power loss cannot be staged in a test, so the fsyncs are recorded as they happen,
with what the synced directory held at that moment."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.outbox import MaildirOutbox, maildir_name
from orchestrator.key_file import shared_key
from tests.unit.test_outbox import reply


@dataclass(frozen=True)
class Synced:
    path: Path
    is_dir: bool
    names: frozenset[str]  # a directory's entries when it was synced


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[Synced]:
    real_fsync = os.fsync
    seen: list[Synced] = []

    def recording_fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        names = frozenset(os.listdir(path)) if is_dir else frozenset()
        seen.append(Synced(path, is_dir, names))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return seen


def synced_after_named(fsyncs: list[Synced], path: Path) -> bool:
    """The directory holding `path` was fsynced while `path` was in it."""
    return any(s.is_dir and s.path == path.parent and path.name in s.names for s in fsyncs)


async def test_a_blob_is_durable_by_name_when_put_returns(
    tmp_path: Path, fsyncs: list[Synced]
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    ref = await store.put(b"attachment bytes")
    blob = store.path_of(ref.sha256)
    first_file_sync = next(i for i, s in enumerate(fsyncs) if not s.is_dir)
    assert synced_after_named(fsyncs[first_file_sync:], blob), fsyncs
    # Its fan-out folder was made for it: the folder's own name is synced in its parent.
    assert synced_after_named(fsyncs, blob.parent), fsyncs
    assert synced_after_named(fsyncs, blob.parent.parent), fsyncs


async def test_a_blob_put_again_is_synced_by_name_again(
    tmp_path: Path, fsyncs: list[Synced]
) -> None:
    """The first writer may still be short of its directory's fsync when the second
    finds the file: the second must not answer before the name is durable."""
    store = FileBlobStore(tmp_path / "blobs")
    await store.put(b"the same attachment")
    fsyncs.clear()
    ref = await store.put(b"the same attachment")
    assert synced_after_named(fsyncs, store.path_of(ref.sha256)), fsyncs


async def test_a_received_message_is_durable_by_name_but_its_pointer_is_not_synced(
    tmp_path: Path, fsyncs: list[Synced]
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    ref = await store.keep_raw("<m1@example.com>", b"Subject: hi\r\n\r\nbody\r\n")
    assert synced_after_named(fsyncs, store.path_of(ref.sha256)), fsyncs
    assert not any("raw" in s.path.parts for s in fsyncs), "the pointer costs no fsync"
    assert await store.raw("<m1@example.com>") == b"Subject: hi\r\n\r\nbody\r\n"


async def test_a_sent_mail_is_durable_by_name_in_new_when_send_returns(
    tmp_path: Path, fsyncs: list[Synced]
) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    mail = reply()
    await outbox.send(mail)
    delivered = tmp_path / "outbox" / "new" / maildir_name(mail.message_id)
    file_syncs = [i for i, s in enumerate(fsyncs) if not s.is_dir]
    assert len(file_syncs) == 1
    assert synced_after_named(fsyncs[file_syncs[0] :], delivered), fsyncs
    assert synced_after_named(fsyncs, tmp_path / "outbox" / "new"), "new/ itself is durable"


async def test_a_mail_found_sent_is_synced_by_name_before_it_is_reported_sent(
    tmp_path: Path, fsyncs: list[Synced]
) -> None:
    """A first attempt may have died between its rename and the directory's fsync."""
    outbox = MaildirOutbox(tmp_path / "outbox")
    mail = reply()
    await outbox.send(mail)
    fsyncs.clear()
    again = await outbox.send(mail)
    assert again.already_sent
    delivered = tmp_path / "outbox" / "new" / maildir_name(mail.message_id)
    assert synced_after_named(fsyncs, delivered), fsyncs


def test_a_new_reply_token_key_is_synced_and_then_its_name(
    tmp_path: Path, fsyncs: list[Synced]
) -> None:
    path = tmp_path / "keys" / "reply-token.key"
    key = shared_key(path)
    assert key and path.read_bytes().strip() == key
    assert fsyncs[0].is_dir is False
    assert [s for s in fsyncs if s.is_dir and path.name in s.names], "the key's name synced"
