"""Free space in the data directory (and MAILROOM_BLOB_DIR's), against a reserve: Postfix's
queue_minfree and the size rule of its `smtpd_check_size`.

Mail is refused (SMTP `452 4.3.1`, IMAP backs off) while free space is at or below the
reserve, or when a mail of a known size would not fit: its size must stay below the free
space less the reserve, and below half the free space. The half is Postfix's margin, and
ours too: the claim-check stores the raw mail and its decoded attachments (up to ~1.75
times the size), and the thread index and Temporal's database (the embedded server's, in
the same directory) grow with it. The reserve keeps room for those to go on working: a
full disk would fail Temporal's own writes, not just ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DiskSpace:
    path: Path
    reserve_bytes: int
    # Other directories mail is written to (MAILROOM_BLOB_DIR, maybe a disk of its own):
    # each must have room, so the lowest free space of them all is the one that counts.
    also: tuple[Path, ...] = ()

    def free_bytes(self) -> int:
        """Bytes an unprivileged writer may still use (statvfs f_bavail: root's reserved
        blocks do not count). A missing directory is checked at its nearest parent."""
        return min(stats.f_bavail * stats.f_frsize for stats in self._disks())

    def _disks(self) -> list[os.statvfs_result]:
        return [os.statvfs(_existing(path)) for path in (self.path, *self.also)]

    def room_for(self, size: int) -> bool:
        return self._fits(size, self.free_bytes())

    def ever_room_for(self, size: int) -> bool:
        """With nothing else on the disk: all of it an unprivileged writer may use (root's
        reserved blocks, f_bfree - f_bavail, never are)."""
        return self._fits(
            size,
            min((s.f_blocks - s.f_bfree + s.f_bavail) * s.f_frsize for s in self._disks()),
        )

    def _fits(self, size: int, free: int) -> bool:
        usable = free - self.reserve_bytes
        return usable > 0 and size < usable and 2 * size < free


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
