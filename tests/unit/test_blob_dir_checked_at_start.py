"""MAILROOM_BLOB_DIR is checked when a node starts, as MAILROOM_DATA_DIR is: a path that is a
file, or a shared mount that is not there, is a start-up error naming the setting, never a
node that starts and then refuses every mail (or writes its blobs where no other node looks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.bootstrap import bootstrap
from orchestrator.settings import load_settings
from orchestrator.startup_checks import StartupError


def start_node(monkeypatch: pytest.MonkeyPatch, data_dir: Path, blob_dir: Path) -> None:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MAILROOM_BLOB_DIR", str(blob_dir))
    bootstrap(load_settings())


def test_a_blob_dir_that_is_a_file_is_a_start_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_directory = tmp_path / "blobs.txt"
    not_a_directory.write_text("a file")
    with pytest.raises(StartupError, match="MAILROOM_BLOB_DIR"):
        start_node(monkeypatch, tmp_path / "data", not_a_directory)


def test_a_shared_blob_dir_that_is_not_mounted_is_a_start_up_error_and_is_not_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unmounted = tmp_path / "mnt" / "mailroom-blobs"  # the NFS share did not come up
    with pytest.raises(StartupError, match="MAILROOM_BLOB_DIR"):
        start_node(monkeypatch, tmp_path / "data", unmounted)
    assert not unmounted.exists()
