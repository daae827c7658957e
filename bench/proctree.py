"""CPU time of a process and everything under it, from /proc (Linux), without psutil.

A role run as N processes (`mailroom worker --processes N`) is a supervising parent and its
children: its CPU is the sum over the tree. /proc/<pid>/task/<tid>/children needs a kernel
option this project's machines lack, so the tree is found from every process's parent pid
(/proc/<pid>/stat). A child that exited and was waited for is in its parent's cutime and
cstime, so a restarted child's CPU is not lost and no process is counted twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    cpu_ticks: int  # utime + stime + cutime + cstime, in clock ticks


def parse_stat(text: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command name (field 2) may hold spaces and ')', so the
    fields are counted from its last ')'."""
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    # after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ProcStat(
        pid=int(head.partition("(")[0]),
        ppid=int(fields[1]),
        cpu_ticks=utime + stime + cutime + cstime,
    )


def read_stats(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every process's stat now; one that exits while being read is left out."""
    stats: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = parse_stat((entry / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        stats[stat.pid] = stat
    return stats


def tree(root: int, stats: Mapping[int, ProcStat]) -> Iterator[ProcStat]:
    """`root` and its descendants, as far as `stats` knows them."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    waiting = [root]
    while waiting:
        pid = waiting.pop()
        if pid in stats:
            yield stats[pid]
            waiting += children.get(pid, [])


def tree_cpu_seconds(root: int, stats: Mapping[int, ProcStat] | None = None) -> float:
    """CPU seconds used so far by `root` and every process under it (0 if it is gone)."""
    known = read_stats() if stats is None else stats
    ticks = sum(stat.cpu_ticks for stat in tree(root, known))
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_pids(root: int, stats: Mapping[int, ProcStat] | None = None) -> list[int]:
    known = read_stats() if stats is None else stats
    return sorted(stat.pid for stat in tree(root, known))
