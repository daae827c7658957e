"""`mailroom keys`: a fresh key to rotate to, the ring to set with it, and the ids in use
(never a key unless asked for the ring)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.outbound.key_ring import new_key_entry, parse_key_ring
from orchestrator import cli


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, main_in_this_process: None) -> str:
    entries = f"{new_key_entry('2025')},{new_key_entry('2026')}"
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAILROOM_ENCRYPTION_KEYS", entries)
    return entries


def test_keys_new_prints_one_fresh_entry_that_a_ring_accepts(
    keys_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["keys", "new", "2027"]) == 0
    out = capsys.readouterr().out.strip()
    assert parse_key_ring(out).current == "2027" and out not in keys_env


def test_keys_new_with_ring_appends_the_new_key_to_the_keys_in_use(
    keys_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["keys", "new", "2027", "--ring"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{keys_env},2027:")
    assert [key_id for key_id, _ in parse_key_ring(out).keys] == ["2025", "2026", "2027"]


def test_keys_list_names_the_keys_and_which_encrypts_without_a_key(
    keys_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["keys", "list"]) == 0
    assert capsys.readouterr().out == "2025\n2026  (encrypts)\n"


@pytest.mark.parametrize("key_id", ["no spaces", "2026"])
def test_a_bad_or_taken_id_is_refused_in_one_line(
    keys_env: str, capsys: pytest.CaptureFixture[str], key_id: str
) -> None:
    assert cli.main(["keys", "new", key_id, "--ring"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert key_id in captured.err
