"""The IMAP adapter against a real Dovecot does not fetch while the data directory is
short of space (as SMTP answers 452 4.3.1): the mail stays unread on the server, and is
fetched once there is room. The disk is a fake of our StorageSpace port."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tests.dovecot import Dovecot
from tests.fakes import FakeThreadGateway
from tests.integration.imap_support import SEEN, all_have, append_all, flags, lone_adapter, mail
from tests.support import wait_for


@dataclass
class FakeDisk:
    room: bool = False
    asked: list[int] = field(default_factory=list)

    def room_for(self, size: int) -> bool:
        self.asked.append(size)
        return self.room


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
