"""A full disk, for real: the data directory on a small tmpfs. The SMTP listener answers
`452 4.3.1` at MAIL (SIZE=), before DATA's 354 and after a transfer that would not fit,
instead of `451` after the whole transfer; nothing is left behind; once space is freed,
mail is accepted again. A blob write that hits ENOSPC leaves no partial file.

Mounting needs root (CI runs as root); elsewhere these tests skip, saying why."""

from __future__ import annotations

import asyncio
import errno
import os
import smtplib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.blob_store import FileBlobStore
from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings

SUPPORT = "support@mailroom.local"
MB = 1024 * 1024
DISK_MB = 24
RESERVE_MB = 4
STORAGE_FULL = "4.3.1 Insufficient system storage"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs these as root)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


class Filler:
    """One file that takes the disk's space, down to a chosen amount of free space."""

    def __init__(self, disk: Path) -> None:
        self.disk = disk
        self.path = disk / "filler"

    def free(self) -> int:
        stats = os.statvfs(self.disk)
        return stats.f_bavail * stats.f_frsize

    def leave_free(self, free: int) -> None:
        self.path.unlink(missing_ok=True)
        with open(self.path, "wb") as filler:
            os.posix_fallocate(filler.fileno(), 0, self.free() - free)
        assert abs(self.free() - free) < 64 * 1024, self.free()

    def remove(self) -> None:
        self.path.unlink()


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, small_disk: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(
        small_disk / "data",
        dev_server.client,
        task_queue,
        max_message_bytes=4 * MB,
        disk_reserve_mb=RESERVE_MB,
    )
    async with running_stack(dev_server.client, settings, worker=False) as running:
        yield running


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def mail_files(data_dir: Path) -> dict[Path, int]:
    """Every file and its size but the SQLite stores (their pages are reused, not grown by
    a refusal): blobs, raw pointers, temporary and spool files."""
    return {p: p.stat().st_size for p in files_under(data_dir) if ".sqlite" not in p.name}


def session(port: int) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    smtp.ehlo("client.example")
    return smtp


def transactions_while_full(port: int, filler: Filler, body: bytes) -> dict[str, tuple[int, str]]:
    """The answers a sender gets in each place the disk is checked."""
    answers = {}
    with session(port) as smtp:
        # At MAIL: 2 MB would leave less than the reserve.
        filler.leave_free(RESERVE_MB * MB + int(1.5 * MB))
        answers["mail_with_size"] = reply(smtp.docmd("MAIL", f"FROM:<a@example.com> SIZE={2 * MB}"))
        smtp.rset()
        # Before DATA's 354: the space went between MAIL and DATA.
        assert smtp.docmd("MAIL", f"FROM:<a@example.com> SIZE={len(body)}")[0] == 250
        assert smtp.docmd("RCPT", f"TO:<{SUPPORT}>")[0] == 250
        filler.leave_free(RESERVE_MB * MB - MB)
        answers["data"] = reply(smtp.docmd("DATA"))
        smtp.rset()
        # After the transfer: no SIZE= was given, and the mail does not fit.
        filler.leave_free(RESERVE_MB * MB + MB // 2)
        assert smtp.docmd("MAIL", "FROM:<a@example.com>")[0] == 250
        assert smtp.docmd("RCPT", f"TO:<{SUPPORT}>")[0] == 250
        assert smtp.docmd("DATA")[0] == 354
        smtp.send(body.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        answers["after_transfer"] = reply(smtp.getreply())
    return answers


def reply(answer: tuple[int, bytes]) -> tuple[int, str]:
    return answer[0], answer[1].decode()


async def test_a_full_disk_is_answered_452_and_mail_flows_again_once_space_is_freed(
    stack: Stack, small_disk: Path, unique: str
) -> None:
    filler = Filler(small_disk)
    blobs = stack.wiring.settings.data_dir / "blobs"
    body = raw_mail(
        sender="alice@example.com",
        to=SUPPORT,
        subject="the spreadsheet",
        message_id=f"<full-{unique}@example.com>",
        body="x" * 76 + "\r\n" * 1 + ("y" * 76 + "\r\n") * 12_000,  # ~900 KB
    )
    data_dir = stack.wiring.settings.data_dir
    before = mail_files(data_dir)

    answers = await asyncio.to_thread(transactions_while_full, stack.smtp_port, filler, body)

    assert answers["mail_with_size"] == (452, STORAGE_FULL)
    assert answers["data"] == (452, STORAGE_FULL)
    assert answers["after_transfer"] == (452, STORAGE_FULL)
    assert mail_files(data_dir) == before, "nothing left behind"

    filler.remove()
    refused = await stack.send(body, [SUPPORT])  # smtplib sends SIZE=, the server offers it
    assert refused == {}
    assert any(p.parent.name != "raw" for p in files_under(blobs) - set(before))


async def test_a_blob_write_that_fills_the_disk_leaves_no_partial_file(small_disk: Path) -> None:
    store = FileBlobStore(small_disk / "blobs")
    await store.put(b"warm up")
    before = files_under(small_disk)
    too_big = os.urandom(DISK_MB * MB)
    with pytest.raises(OSError) as failure:
        await store.put(too_big)
    assert failure.value.errno == errno.ENOSPC
    assert files_under(small_disk) == before
    await store.close()
