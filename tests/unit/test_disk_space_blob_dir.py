"""With MAILROOM_BLOB_DIR on a disk of its own, mail is refused (452 4.3.1, IMAP backs off)
when either disk is short: the blobs fill the blob directory's, the thread index, spool and
Temporal's database the data directory's. The lower free space wins."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.bootstrap import bootstrap, close_stores
from orchestrator.services import disk_space
from orchestrator.settings import load_settings

MB = 1024 * 1024


def disks(free: dict[Path, int]) -> object:
    """statvfs of two file systems: `free` bytes at each directory, 1 GB in all."""

    def statvfs(path: os.PathLike[str] | str) -> SimpleNamespace:
        bavail = free[Path(path)] // 4096
        return SimpleNamespace(f_bavail=bavail, f_bfree=bavail, f_frsize=4096, f_blocks=262144)

    return statvfs


@pytest.mark.parametrize("full", ["data", "blobs"])
async def test_mail_is_refused_when_either_the_data_or_the_blob_disk_is_short(
    full: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, blobs = tmp_path / "data", tmp_path / "blobs"
    blobs.mkdir()
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data))
    monkeypatch.setenv("MAILROOM_BLOB_DIR", str(blobs))
    monkeypatch.setenv("MAILROOM_DISK_RESERVE_MB", "10")
    wiring = bootstrap(load_settings())
    plenty = {data: 500 * MB, blobs: 500 * MB}
    monkeypatch.setattr(os, "statvfs", disks(plenty))
    assert disk_space(wiring).room_for(MB)
    short = {**plenty, tmp_path / full: 5 * MB}  # below the reserve
    monkeypatch.setattr(os, "statvfs", disks(short))
    assert not disk_space(wiring).room_for(MB)
    assert not disk_space(wiring).room_for(0)
    await close_stores(wiring)
