"""bench.ingest's process counts (--workers, --smtp-processes, --scaling) and the CPU of a
role run as N processes: its whole process tree (bench/proctree.py), rows and their ratios
(bench/scaling.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.ingest_args import parse_args
from bench.proctree import ProcStat, parse_stat, read_stats, tree_cpu_seconds, tree_pids
from bench.scaling import Row, with_ratios

TICK = 1 / os.sysconf("SC_CLK_TCK")


def stat_line(pid: int, name: str, ppid: int, utime: int, stime: int, cut: int, cst: int) -> str:
    middle = f"S {ppid} {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} {cut} {cst} 20 0 1"
    return f"{pid} ({name}) {middle} 0 12345 1000000 200\n"


def test_one_count_per_role_and_a_series_of_counts_are_read() -> None:
    args = parse_args(["--workers", "2", "--smtp-processes", "3"])
    assert (args.workers, args.smtp_processes, args.scaling) == (2, 3, None)
    assert parse_args([]).workers == 1 and parse_args([]).smtp_processes == 1
    assert parse_args(["--scaling", "1, 2,4"]).scaling == [1, 2, 4]
    assert parse_args(["--scaling", "1,2,1,2"]).scaling == [1, 2, 1, 2]


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "0"],
        ["--smtp-processes", "65"],
        ["--workers", "two"],
        ["--scaling", "1,0"],
        ["--scaling", ","],
        ["--scaling", "1,2", "--workers", "2"],
        ["--scaling", "1,2", "--paced", "10"],
    ],
)
def test_counts_the_stack_cannot_run_are_refused_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    stat = parse_stat(stat_line(42, "odd ) name (x)", 7, 100, 20, 3, 4))
    assert stat == ProcStat(pid=42, ppid=7, cpu_ticks=127)


def test_a_role_counts_its_parent_children_and_grandchildren_and_nothing_else(
    tmp_path: Path,
) -> None:
    processes = {
        # pid: (ppid, utime + stime + cutime + cstime as its four fields)
        10: (1, (5, 5, 100, 0)),  # the supervising parent; 100: a child it reaped earlier
        11: (10, (200, 0, 0, 0)),
        12: (10, (150, 50, 0, 0)),
        13: (12, (10, 0, 0, 0)),  # e.g. a pool process of child 12
        20: (1, (999, 0, 0, 0)),  # another role
    }
    for pid, (ppid, ticks) in processes.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat_line(pid, "python3", ppid, *ticks))
    (tmp_path / "self").mkdir()  # not a pid: skipped
    stats = read_stats(tmp_path)
    assert tree_pids(10, stats) == [10, 11, 12, 13]
    assert tree_cpu_seconds(10, stats) == pytest.approx(520 * TICK)
    assert tree_cpu_seconds(99, stats) == 0.0  # gone: nothing


def test_the_cpu_of_a_child_that_exited_stays_in_its_parents_tree() -> None:
    """A restarted child's CPU is not lost: once waited for, it is in the parent's cutime."""
    before = tree_cpu_seconds(os.getpid())
    burn = "import time\nwhile time.process_time() < 0.3: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert tree_cpu_seconds(os.getpid()) - before >= 0.3 - 2 * TICK


def test_a_running_child_is_in_its_parents_tree() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert child.pid in tree_pids(os.getpid())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def row(processes: int, rate: float, applied: float, front: float) -> Row:
    return Row(processes, rate, applied, 10, 50, 5, 20, front, {}, {}, 0, 0, 0.5, 1.0)


def test_each_row_is_compared_with_the_first_row_of_the_same_run() -> None:
    rows = with_ratios([row(1, 50.0, 40.0, 100.0), row(2, 75.0, 40.0, 0.0)])
    assert rows[0].ratios == {"rate": 1.0, "applied_rate": 1.0, "front_end_rate": 1.0}
    assert rows[1].ratios == {"rate": 1.5, "applied_rate": 1.0, "front_end_rate": 0.0}
