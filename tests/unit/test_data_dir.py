"""The data directory is private, and its reply-token key is the same for every process that
starts on it at once."""

from __future__ import annotations

import multiprocessing
import os
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from orchestrator.key_file import shared_key
from orchestrator.startup_checks import StartupError, check_data_dir

RACERS = 8
ROUNDS = 25
BARRIER_TIMEOUT = 60.0


def race(barrier: Barrier, root: str, results: Any) -> None:
    """One starter: each round, wait for the others, then read (or make) the round's key."""
    for round_ in range(ROUNDS):
        barrier.wait(BARRIER_TIMEOUT)
        results.put((round_, shared_key(Path(root) / f"round-{round_}" / "reply-token.key")))


def test_starters_racing_on_a_fresh_data_dir_all_read_the_same_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # a clean interpreter, as `mailroom` runs
    barrier = context.Barrier(RACERS)
    results = context.Queue()
    racers = [
        context.Process(target=race, args=(barrier, str(tmp_path), results)) for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    try:
        keys: dict[int, set[bytes]] = {}
        for _ in range(RACERS * ROUNDS):
            round_, key = results.get(timeout=BARRIER_TIMEOUT)
            keys.setdefault(round_, set()).add(key)
    finally:
        for racer in racers:
            racer.join(BARRIER_TIMEOUT)
            if racer.is_alive():
                racer.kill()
    assert [racer.exitcode for racer in racers] == [0] * RACERS
    assert len(keys) == ROUNDS
    for round_, found in keys.items():
        assert len(found) == 1, f"round {round_}: the starters disagree: {found}"
        assert len(found.pop()) == 64, f"round {round_}: an empty or partial key was read"
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == [], "no temporary key file stays"


def test_the_key_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "reply-token.key"
    key = shared_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert shared_key(path) == key


def test_an_empty_key_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "reply-token.key").write_text("")
    with pytest.raises(StartupError, match=r"^MAILROOM_DATA_DIR: .* is empty: remove it"):
        shared_key(tmp_path / "reply-token.key")


@pytest.fixture
def permissive_umask() -> Any:
    kept = os.umask(0o022)
    yield
    os.umask(kept)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_is_0700_whatever_the_umask(tmp_path: Path, permissive_umask: None) -> None:
    check_data_dir(tmp_path / "data")
    assert mode(tmp_path / "data") == 0o700


def test_an_open_data_dir_holding_mailroom_state_is_tightened(
    tmp_path: Path, permissive_umask: None
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "temporal.db").write_bytes(b"")
    check_data_dir(data)
    assert mode(data) == 0o700


def test_an_open_directory_with_other_things_is_left_as_it_is(
    tmp_path: Path, permissive_umask: None
) -> None:
    """It may be shared with something else: changing its mode could break that."""
    shared = tmp_path / "srv"
    shared.mkdir(mode=0o755)
    (shared / "index.html").write_text("someone else's")
    check_data_dir(shared)
    assert mode(shared) == 0o755
