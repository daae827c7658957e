"""Scaling with processes per role: bench.ingest's flat-out and front-end passes for
N = 1, 2, … worker and SMTP processes, in one run.

    python -m bench.ingest --scaling 1,2 [--mails N] [--concurrency C] [--threads M]

For each N, a fresh stack (its own embedded server and data directory, so a later row does
not inherit a bigger database): `mailroom worker --processes N` and `mailroom smtp
--processes N`, a warm-up, the flat-out pass over SMTP, then the front-end pass (`mailroom
smtp --processes N` handing mail to threads that do nothing, bench.minimal's worker). Each row:
accepted and applied mails/s, 250 → applied p50/p99, the SMTP hand-off's p50/p99, the front
end's mails/s, and CPU ms per mail of each role (the whole process tree: parent and
children), until the stack was idle again. Ratios are to the first row (N=1 when it is
first), measured in the same run. How busy the machine was: the load average before each
row, and the CPU seconds the rest of the machine used during its flat-out pass (`others`).
A count may come again (`--scaling 1,2,1,2`) to see the machine's drift.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.harness import bench_stack
from bench.ingest import (
    BASELINE_TASK_QUEUE,
    Pass,
    front_end_pass,
    smtp_bounds,
    smtp_pass,
    start_mailroom,
    warmup_mails,
)

MINIMAL_WORKER = (sys.executable, "-m", "bench.minimal")
FLAT_OUT_ROLES = ("smtp", "worker", "server")
FRONT_END_ROLES = ("smtp-front", "baseline-worker", "server")


@dataclass
class Row:
    processes: int
    rate: float
    applied_rate: float
    p50_ms: float
    p99_ms: float
    handoff_p50_ms: float
    handoff_p99_ms: float
    front_end_rate: float
    cpu_ms_per_mail: dict[str, float]
    front_end_cpu_ms_per_mail: dict[str, float]
    deferred: int
    not_applied: int
    load_average: float
    others_cpu_s: float  # the rest of the machine during the flat-out pass: other work
    ratios: dict[str, float] = field(default_factory=dict)


def cpu_ms_per_mail(measured: Pass, roles: tuple[str, ...]) -> dict[str, float]:
    """Each role's CPU over the pass until the stack was idle, per accepted mail."""
    per_mail = measured.settled_cpu
    mails = measured.mails or 1
    return {role: round(per_mail.get(role, 0.0) * 1000 / mails, 2) for role in roles}


def row_of(processes: int, full: Pass, front: Pass, load_average: float) -> Row:
    return Row(
        processes=processes,
        rate=round(full.rate, 1),
        applied_rate=round(full.applied_rate, 1),
        p50_ms=full.latency.p50_ms,
        p99_ms=full.latency.p99_ms,
        handoff_p50_ms=full.handoff.p50_ms,
        handoff_p99_ms=full.handoff.p99_ms,
        front_end_rate=round(front.rate, 1),
        cpu_ms_per_mail=cpu_ms_per_mail(full, FLAT_OUT_ROLES),
        front_end_cpu_ms_per_mail=cpu_ms_per_mail(front, FRONT_END_ROLES),
        deferred=full.deferred + front.deferred,
        not_applied=full.missing + front.missing,
        load_average=load_average,
        others_cpu_s=round(full.cpu.get("others", 0.0), 1),
    )


RATES = ("rate", "applied_rate", "front_end_rate")


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 2) if reference else 0.0


def with_ratios(rows: list[Row]) -> list[Row]:
    """Each row's rates as a multiple of the first row's."""
    first = rows[0]
    for row in rows:
        row.ratios = {name: ratio(getattr(row, name), getattr(first, name)) for name in RATES}
    return rows


async def one_row(args: argparse.Namespace, processes: int) -> Row:
    counts = argparse.Namespace(**{**vars(args), "workers": processes, "smtp_processes": processes})
    tag = uuid.uuid4().hex[:6]
    load_average = round(os.getloadavg()[0], 2)
    async with bench_stack(log_level=args.log_level, keep=args.keep) as stack:
        await start_mailroom(stack, counts)
        await smtp_pass(stack, f"{tag}-warm", counts, mails=warmup_mails(args))
        full = await smtp_pass(stack, f"{tag}-max", counts, mails=args.mails)
        full.show()
        minimal = await stack.spawn(
            "baseline-worker",
            [*MINIMAL_WORKER, "--target", stack.target, "--task-queue", BASELINE_TASK_QUEUE],
        )
        await minimal.wait_for_output("ready")
        front = await front_end_pass(stack, tag, counts, smtp_bounds(args), warmup_mails(args))
        front.show()
    return row_of(processes, full, front, load_average)


HEADER = (
    "N | accepted/s (x) | applied/s (x) | 250→applied p50/p99 ms | hand-off p50/p99 ms "
    "| front end/s (x) | CPU ms/mail smtp, worker, server | load, others' CPU s"
)


def line(row: Row) -> str:
    cpu = row.cpu_ms_per_mail
    return (
        f"{row.processes} | {row.rate:.1f} ({row.ratios['rate']:.2f}) "
        f"| {row.applied_rate:.1f} ({row.ratios['applied_rate']:.2f}) "
        f"| {row.p50_ms:.0f} / {row.p99_ms:.0f} | {row.handoff_p50_ms:.0f} / "
        f"{row.handoff_p99_ms:.0f} | {row.front_end_rate:.1f} "
        f"({row.ratios['front_end_rate']:.2f}) "
        f"| {cpu['smtp']:.1f}, {cpu['worker']:.1f}, {cpu['server']:.1f} "
        f"| {row.load_average}, {row.others_cpu_s}"
    )


async def series(args: argparse.Namespace) -> dict[str, Any]:
    rows = [await one_row(args, processes) for processes in args.scaling]
    with_ratios(rows)
    print(f"scaling on {os.cpu_count()} cores, ratios to N={rows[0].processes}:")
    print(HEADER)
    for row in rows:
        print(line(row))
    return {
        "scaling": [asdict(row) for row in rows],
        "cores": os.cpu_count(),
        "mails": args.mails,
        "concurrency": args.concurrency,
        "threads": args.threads,
        "order": args.order,
        "mailbox": args.mailbox,
    }
