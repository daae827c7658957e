"""The IMAP adapter against a real Dovecot does not fetch while the data directory is
short of space (as SMTP answers 452 4.3.1): the mail stays unread on the server, and is
fetched once there is room. The disk is a fake of our StorageSpace port. A mail that could
never be taken (over max_message_bytes, or bigger than the disk could ever hold) is
quarantined unread instead of stopping the source forever."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.outbound.disk_space import DiskSpace
from orchestrator.services import IMAP_CHECKPOINTS
from tests.dovecot import Dovecot
from tests.fakes import FakeThreadGateway
from tests.integration.imap_support import SEEN, all_have, append_all, flags, lone_adapter, mail
from tests.support import wait_for

QUARANTINE = "mailroom-quarantine"


@dataclass
class FakeDisk:
    room: bool = False
    asked: list[int] = field(default_factory=list)
    capacity: int = 1 << 40  # what the disk could ever hold, with nothing else on it

    def room_for(self, size: int) -> bool:
        self.asked.append(size)
        return self.room and size < self.capacity

    def ever_room_for(self, size: int) -> bool:
        return size < self.capacity


def big_mail(subject: str, size: int) -> tuple[str, bytes]:
    message_id, raw = mail(subject)
    return message_id, raw + (b"x" * 76 + b"\r\n") * (size // 78)


async def quarantined_unread(
    dovecot: Dovecot, tmp_path: Path, disk: FakeDisk, max_message_bytes: int | None
) -> tuple[str, ImapInbound, FakeThreadGateway]:
    """A too large mail then a small one: the small one arrives, the large one is set aside;
    the Message-ID of the large one is returned."""
    large_id, large = big_mail("Never fits", 200_000)
    after_id, after = mail("Behind the large one")
    await asyncio.to_thread(append_all, dovecot, [large, after])
    threads = FakeThreadGateway()
    adapter = lone_adapter(dovecot, tmp_path, threads, start="all")
    adapter.storage, adapter.max_message_bytes = disk, max_message_bytes
    task = asyncio.create_task(adapter.run())

    def passed_both() -> bool:  # the checkpoint is saved after the hand-off: wait for it too
        saved = adapter.checkpoints.load(adapter.source.key)
        return saved is not None and saved.last_uid == 2

    try:
        await wait_for(lambda: [m.message_id for _, m in threads.handed_off] == [after_id])
        await wait_for(passed_both, what="the checkpoint past both mails")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert list(await flags(dovecot, QUARANTINE)) == [large_id.encode()]
    assert max(disk.asked) < 100_000, "never waited for room for the large one"
    return large_id, adapter, threads


async def test_mail_over_max_message_bytes_is_quarantined_unread(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    disk = FakeDisk(room=True)
    large_id, adapter, _ = await quarantined_unread(dovecot, tmp_path, disk, 100_000)
    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    [record] = checkpoints.quarantined(adapter.source.key)
    assert (record.uid, record.message_id) == (1, large_id)
    assert record.reason.startswith("too large: ") and "max_message_bytes (100000)" in record.reason
    saved = checkpoints.load(adapter.source.key)
    assert saved is not None and saved.last_uid == 2


async def test_mail_the_disk_could_never_hold_is_quarantined_instead_of_waited_for(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    disk = FakeDisk(room=True, capacity=100_000)
    _, adapter, _ = await quarantined_unread(dovecot, tmp_path, disk, None)
    [record] = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS).quarantined(adapter.source.key)
    assert record.reason.startswith("too large: ") and "disk" in record.reason


async def test_mail_stays_on_the_server_while_the_disk_is_short_then_is_fetched(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Disk {n}") for n in range(3)]
    await asyncio.to_thread(append_all, dovecot, [raw for _, raw in mails])
    threads = FakeThreadGateway()
    disk = FakeDisk(room=False)
    adapter = lone_adapter(dovecot, tmp_path, threads, start="all")
    adapter.storage = disk
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: adapter.status == "paused: disk", what="the pause")
        await wait_for(lambda: len(disk.asked) >= 3, what="the disk looked at again")
        assert threads.handed_off == []
        assert all(f == () for f in (await flags(dovecot)).values())
        assert min(disk.asked) > 0, "asked with the size the server gave"
        disk.room = True
        await wait_for(lambda: all_have(flags(dovecot), SEEN, 3), what="all marked")
        assert [m.message_id for _, m in threads.handed_off] == [m for m, _ in mails]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_the_real_disk_could_hold_a_small_mail_but_never_one_as_big_as_itself(
    tmp_path: Path,
) -> None:
    stats = os.statvfs(tmp_path)
    whole = stats.f_blocks * stats.f_frsize
    disk = DiskSpace(tmp_path, reserve_bytes=1024 * 1024)
    assert disk.ever_room_for(1024) and not disk.ever_room_for(whole)
