"""With the blobs in PostgreSQL (MAILROOM_DATABASE_URL, no MAILROOM_BLOB_DIR) a mail is one
`bytea` value: PostgreSQL refuses one over 1 GB, and storing or reading one costs the process
about twice its size in memory. A MAILROOM_MAX_MESSAGE_BYTES past a sane bound is a start-up
error naming the setting, not a node that fails (or swaps) on its first big mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.bootstrap import bootstrap
from orchestrator.settings import load_settings
from orchestrator.startup_checks import MAX_DATABASE_BLOB_BYTES, StartupError

UNREACHABLE = "postgresql://mailroom@127.0.0.1:1/mailroom"  # the check comes first


def start_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, max_bytes: int) -> None:
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILROOM_DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("MAILROOM_MAX_MESSAGE_BYTES", str(max_bytes))
    bootstrap(load_settings())


def test_a_message_limit_past_the_bound_with_blobs_in_the_database_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StartupError, match="MAILROOM_MAX_MESSAGE_BYTES") as refused:
        start_node(monkeypatch, tmp_path, MAX_DATABASE_BLOB_BYTES + 1)
    assert "\n" not in str(refused.value)
    assert "MAILROOM_BLOB_DIR" in str(refused.value)  # the way out


@pytest.mark.parametrize("blob_dir", [False, True], ids=["at the bound", "blobs in a directory"])
def test_a_message_limit_the_database_can_hold_or_blobs_on_disk_start(
    blob_dir: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    max_bytes = MAX_DATABASE_BLOB_BYTES
    if blob_dir:
        (tmp_path / "blobs").mkdir()
        monkeypatch.setenv("MAILROOM_BLOB_DIR", str(tmp_path / "blobs"))
        max_bytes = 4 * MAX_DATABASE_BLOB_BYTES
    with pytest.raises(StartupError, match="MAILROOM_DATABASE_URL"):  # the next check
        start_node(monkeypatch, tmp_path, max_bytes)
