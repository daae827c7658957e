"""Ingest benchmark: the real stack over real SMTP against bare Temporal, in one run.

    python -m bench.ingest [--mails N] [--concurrency C] [--threads M]
                           [--workers N] [--smtp-processes N] [--scaling 1,2,…]

1. An embedded server (SQLite file, WAL), `mailroom worker` and `mailroom smtp` as
   subprocesses, as `mailroom up` runs them (`--workers N`, `--smtp-processes N`: with
   `--processes N`, a supervising parent and N children; CPU counts the whole tree).
2. Flat out: C SMTP clients (threads of one separate process) send N mails across M threads.
   rate = accepted mails/s (first MAIL FROM → last 250).
3. Baseline: N plain signal-with-start calls, C at a time, same payloads and thread spread,
   against a minimal append-only workflow on its own worker process: baseline_rate.
4. Front end: N more mails over SMTP to a second `mailroom smtp` whose task queue the
   minimal worker serves, so every thread does nothing: front_end_rate, what the SMTP
   adapter (parse, blob, thread index, signal-with-start) costs apart from the flows.
5. Half rate: N more mails over SMTP, paced at rate/2: p99_ms_at_half_rate.
6. Temporal work per mail of the flat-out pass and of the baseline, read from their
   histories once the run is over (see bench.work), and CPU ms per mail per process.
7. The CPU baselines, same run: the answering baseline (N more signal-with-starts to
   bench.minimal's workflow that answers each batch of queued mail with one local activity
   doing nothing) for the worker, and the bare adapter (N more mails over SMTP to
   bench.bare_adapter, handing them to the do-nothing threads) for the SMTP adapter:
   worker_cpu_ms_per_mail, adapter_cpu_ms_per_mail and mailroom's multiples of them. The
   baselines run again paced at mailroom's flat-out rate and the bare adapter at the front
   end's: flat out they batch more than mailroom, paced less (bench.cpu_floors).

Latency is end-to-end from the client's 250 to the message being applied in its thread
workflow: the completion time of the workflow task that ran its signal handler, read from
the workflow histories after each pass (see bench.history), so observing costs nothing
during the pass. Each phase starts after a short unmeasured warm-up on its own threads.

`--scaling 1,2` runs bench.scaling instead: the flat-out and front-end passes for each N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.bare_adapter import PREFIX
from bench.cpu_floors import (
    BareAdapter,
    BareWorker,
    adapter_figures,
    cpu_ms_per_mail,
    worker_figures,
)
from bench.harness import BenchStack, bench_stack, free_port
from bench.history import wait_applied
from bench.ingest_args import parse_args
from bench.mails import Layout
from bench.report import Latency, accepted_rate, applied_rate, end_to_end, handoff, print_json
from bench.work import PassWork, work_comparison

BASELINE_TASK_QUEUE = "bench-baseline"
# the passes paced at mailroom's rates, in the order `figures` takes them
PACED_PASSES = (
    "baseline_at_mailroom_rate",
    "answering_baseline_at_mailroom_rate",
    "bare_adapter_at_front_end_rate",
)
APPLY_TIMEOUT_SECONDS = 300.0


@dataclass
class Pass:
    name: str
    rate: float
    applied_rate: float
    latency: Latency
    handoff: Latency
    deferred: int
    failed: int
    missing: int
    cpu: dict[str, float]
    mails: int = 0  # accepted: what per-mail figures divide by
    settled_cpu: dict[str, float] = field(default_factory=dict)  # until the stack was idle
    workflow_ids: list[str] = field(default_factory=list)  # the threads it addressed

    def show(self) -> None:
        print(
            f"{self.name}: {self.rate:.1f} mails/s accepted, {self.applied_rate:.1f}/s applied; "
            f"{self.deferred} deferred (4xx), {self.failed} failed, {self.missing} not applied"
        )
        print(f"  250/ack → applied   {self.latency.line()}")
        print(f"  hand-over → 250/ack {self.handoff.line()}")
        print("  CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.cpu.items()))


def layout(args: argparse.Namespace, mails: int) -> Layout:
    return Layout(mails, args.threads, args.order, args.mailbox)


async def measured(
    stack: BenchStack,
    name: str,
    load: dict[str, Any],
    expected: dict[str, set[str]],
    cpu_before: dict[str, float],
) -> Pass:
    records = load["records"]
    applied = await wait_applied(stack.client, expected, within=APPLY_TIMEOUT_SECONDS)
    # Up to the last message applied (the wait polls histories, so a little more).
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in stack.cpu_snapshot().items()}
    # Per mail: also what the flows did after the mail was applied (answers, reports).
    at_rest = await stack.wait_idle()
    settled = {k: v - cpu_before.get(k, 0.0) for k, v in at_rest.items()}
    cpu["clients"] = float(load["cpu_seconds"])
    # Whatever else ran on the machine meanwhile (other tests, the kernel): noise to know of.
    machine = cpu.pop("machine")
    cpu["others"] = max(0.0, machine - sum(cpu.values()))
    if stack.dump is not None:
        with open(stack.dump, "a") as out:  # noqa: ASYNC230 (after the pass, not timed)
            for mid, (sent, acked, attempts) in records.items():
                row = [name, mid, sent, acked, applied.get(mid), attempts]
                out.write(json.dumps(row) + "\n")
    return Pass(
        name=name,
        rate=accepted_rate(records),
        applied_rate=applied_rate(records, applied),
        latency=Latency.of(end_to_end(records, applied)),
        handoff=Latency.of(handoff(records)),
        deferred=int(load["deferred"]),
        failed=len(load["failed"]),
        missing=sum(1 for mid in records if mid not in applied),
        cpu=cpu,
        mails=len(records),
        settled_cpu={k: v for k, v in settled.items() if k != "machine"},
        workflow_ids=list(expected),
    )


async def smtp_pass(
    stack: BenchStack,
    run: str,
    args: argparse.Namespace,
    *,
    mails: int,
    rate: float = 0.0,
    port: int | None = None,
    prefix: str = "",
) -> Pass:
    await stack.wait_idle()
    cpu_before = stack.cpu_snapshot()
    mails_layout = layout(args, mails)
    load = await stack.smtp_load(
        f"smtp-{run}", run, mails_layout, concurrency=args.concurrency, rate=rate, port=port
    )
    expected = mails_layout.expected(run, load["records"], prefix=prefix)
    return await measured(stack, f"smtp {run}", load, expected, cpu_before)


async def baseline_pass(
    stack: BenchStack,
    run: str,
    args: argparse.Namespace,
    mails: int,
    workflow: str = "append",
    rate: float = 0.0,
) -> Pass:
    await stack.wait_idle()
    cpu_before = stack.cpu_snapshot()
    load = await stack.run_load(
        f"baseline-{run}",
        "baseline",
        run=run,
        mails=mails,
        threads=args.threads,
        order=args.order,
        mailbox=args.mailbox,
        concurrency=args.concurrency,
        target=stack.target,
        task_queue=BASELINE_TASK_QUEUE,
        workflow=workflow,
        rate=rate,
    )
    expected = layout(args, mails).expected(run, load["records"], prefix="bench-")
    return await measured(stack, f"baseline {run}", load, expected, cpu_before)


def warmup_mails(args: argparse.Namespace) -> int:
    return int(max(args.concurrency, args.mails // 20))


def smtp_bounds(args: argparse.Namespace) -> dict[str, str]:
    """The adapter's back-pressure settings the command line chose."""
    bound = {"MAILROOM_MAX_BACKLOG_SECONDS": str(args.max_backlog)} if args.max_backlog else {}
    if args.hold is not None:
        bound["MAILROOM_BACKLOG_HOLD_SECONDS"] = str(args.hold)
    return bound


async def start_mailroom(stack: BenchStack, args: argparse.Namespace) -> None:
    """`mailroom worker` and `mailroom smtp`, with args.workers / args.smtp_processes."""
    worker = await stack.mailroom("worker", args.workers)
    smtp = await stack.mailroom("smtp", args.smtp_processes, **smtp_bounds(args))
    print(
        f"server {stack.target}, worker pid {worker.pid} ({args.workers} processes), "
        f"smtp pid {smtp.pid} ({args.smtp_processes} processes)"
    )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    warmup = warmup_mails(args)
    bound = smtp_bounds(args)
    async with bench_stack(log_level=args.log_level, keep=args.keep) as stack:
        stack.dump = args.dump
        await start_mailroom(stack, args)
        await smtp_pass(stack, f"{tag}-warm", args, mails=warmup)
        if args.paced:
            paced = await smtp_pass(stack, f"{tag}-paced", args, mails=args.mails, rate=args.paced)
            paced.show()
            return {
                "rate": round(paced.rate, 1),
                "p50_ms": paced.latency.p50_ms,
                "p99_ms": paced.latency.p99_ms,
                "mails": args.mails,
                # evenly spaced mail, batched least: a change's A/B runs vary less than flat out
                "cpu_ms_per_mail": {
                    part: round(cpu_ms_per_mail(paced, part), 2)
                    for part in ("smtp", "worker", "server")
                },
                "failed": paced.failed,
                "not_applied": paced.missing,
            }
        full = await smtp_pass(stack, f"{tag}-max", args, mails=args.mails)
        full.show()
        minimal = await stack.spawn(
            "baseline-worker",
            [
                sys.executable,
                "-m",
                "bench.minimal",
                "--target",
                stack.target,
                "--task-queue",
                BASELINE_TASK_QUEUE,
            ],
        )
        await minimal.wait_for_output("ready")
        await baseline_pass(stack, f"{tag}-bwarm", args, warmup)
        base = await baseline_pass(stack, f"{tag}-base", args, args.mails)
        base.show()
        await baseline_pass(stack, f"{tag}-awarm", args, warmup, "answer")
        answering = await baseline_pass(stack, f"{tag}-answer", args, args.mails, "answer")
        answering.show()
        # both again, paced at mailroom's rate (bench.cpu_floors: the floor's other bound)
        base_paced = await baseline_pass(
            stack, f"{tag}-bpaced", args, args.mails, "append", paced_at(full)
        )
        base_paced.show()
        answering_paced = await baseline_pass(
            stack, f"{tag}-apaced", args, args.mails, "answer", paced_at(full)
        )
        answering_paced.show()
        front = await front_end_pass(stack, tag, args, bound, warmup)
        front.show()
        bare = await bare_adapter_pass(stack, tag, args, warmup, paced_at(front))
        bare.flat_out.show()
        bare.at_front_end_rate.show()
        await minimal.stop()
        half = await smtp_pass(stack, f"{tag}-half", args, mails=args.mails, rate=full.rate / 2)
        half.show()
        await stack.wait_idle()  # what the mail started is done: read the work it cost
        mailroom_work = await pass_work(stack, full)
        flat_out = BareWorker(base, answering, await pass_work(stack, answering))
        at_mailroom_rate = BareWorker(
            base_paced, answering_paced, await pass_work(stack, answering_paced)
        )
        work = work_comparison(
            mailroom_work,
            await PassWork.read(
                stack.client, base.workflow_ids, base.mails, base.settled_cpu, ("baseline-worker",)
            ),
        )
    passes = (base_paced, answering_paced, bare.at_front_end_rate)
    return {
        **figures(args, full, base, half, front, answering, bare.flat_out, passes),
        **adapter_figures(full, front, bare),
        **worker_figures(full, mailroom_work, flat_out, at_mailroom_rate),
        **work,
    }


def paced_at(measured_pass: Pass) -> float:
    """The rate to pace another pass at: a measured pass's (rate 0 would mean flat out)."""
    return max(measured_pass.rate, 1.0)


async def pass_work(stack: BenchStack, measured_pass: Pass) -> PassWork:
    return await PassWork.read(
        stack.client, measured_pass.workflow_ids, measured_pass.mails, measured_pass.settled_cpu
    )


async def front_end_pass(
    stack: BenchStack, tag: str, args: argparse.Namespace, bound: dict[str, str], warmup: int
) -> Pass:
    """`mailroom smtp` handing mail to threads that do nothing (the baseline's worker serves
    its task queue): what the SMTP front end costs, apart from the flows."""
    port = free_port()
    front = await stack.mailroom(
        "smtp",
        args.smtp_processes,
        name="smtp-front",
        MAILROOM_TASK_QUEUE=BASELINE_TASK_QUEUE,
        MAILROOM_QUEUE_PREFIX=f"{BASELINE_TASK_QUEUE}-",
        MAILROOM_SMTP_PORT=str(port),
        **bound,
    )
    await smtp_pass(stack, f"{tag}-fwarm", args, mails=warmup, port=port)
    measured_pass = await smtp_pass(stack, f"{tag}-front", args, mails=args.mails, port=port)
    await front.stop()
    return measured_pass


async def bare_adapter_pass(
    stack: BenchStack, tag: str, args: argparse.Namespace, warmup: int, front_end_rate: float
) -> BareAdapter:
    """bench.bare_adapter handing the same mail to threads that do nothing (bench.minimal's
    appending workflow): a plain adapter on mailroom's components, the baseline of the SMTP
    adapter's CPU; flat out, then paced at the rate mailroom's front end reached."""
    port = free_port()
    bare = await stack.spawn(
        "smtp-bare",
        [
            sys.executable,
            "-m",
            "bench.bare_adapter",
            "--port",
            str(port),
            "--target",
            stack.target,
            "--task-queue",
            BASELINE_TASK_QUEUE,
            "--spool",
            str(stack.data_dir / "bare-spool"),
        ],
    )
    await bare.wait_for_output("ready")
    await smtp_pass(stack, f"{tag}-barewarm", args, mails=warmup, port=port, prefix=PREFIX)
    flat_out = await smtp_pass(
        stack, f"{tag}-bare", args, mails=args.mails, port=port, prefix=PREFIX
    )
    paced = await smtp_pass(
        stack,
        f"{tag}-barepaced",
        args,
        mails=args.mails,
        rate=front_end_rate,
        port=port,
        prefix=PREFIX,
    )
    await bare.stop()
    return BareAdapter(flat_out, paced)


def figures(
    args: argparse.Namespace,
    full: Pass,
    base: Pass,
    half: Pass,
    front: Pass,
    answering: Pass,
    bare: Pass,
    paced: tuple[Pass, ...],
) -> dict[str, Any]:
    ratio = full.rate / base.rate if base.rate else 0.0
    front_ratio = front.rate / base.rate if base.rate else 0.0
    print(
        f"ratio {ratio:.2f} (target >= 0.8); p99 at half rate {half.latency.p99_ms} ms "
        f"(target <= 250 ms); SMTP front end to do-nothing threads {front_ratio:.2f}"
    )
    return {
        "rate": round(full.rate, 1),
        "baseline_rate": round(base.rate, 1),
        "ratio": round(ratio, 3),
        "p50_ms": full.latency.p50_ms,
        "p95_ms": full.latency.p95_ms,
        "p99_ms": full.latency.p99_ms,
        "p99_ms_at_half_rate": half.latency.p99_ms,
        "p50_ms_at_half_rate": half.latency.p50_ms,
        "half_rate": round(half.rate, 1),
        "applied_rate": round(full.applied_rate, 1),
        "baseline_applied_rate": round(base.applied_rate, 1),
        "baseline_p50_ms": base.latency.p50_ms,
        "baseline_p99_ms": base.latency.p99_ms,
        "smtp_p99_ms": full.handoff.p99_ms,
        # mailroom's SMTP front end handing mail to threads that do nothing
        "front_end_rate": round(front.rate, 1),
        "front_end_ratio": round(front_ratio, 3),
        "deferred": full.deferred + half.deferred,
        "front_end_deferred": front.deferred,
        "failed": sum(p.failed for p in (full, half, base, front, answering, bare, *paced)),
        "not_applied": sum(p.missing for p in (full, half, base, front, answering, bare, *paced)),
        # CPU seconds per process in each pass; "others" is the rest of the machine
        # (other tests, the kernel): a pass with much of it measured a busy machine.
        "cpu_s": {
            "max": {k: round(v, 1) for k, v in full.cpu.items()},
            "baseline": {k: round(v, 1) for k, v in base.cpu.items()},
            "half": {k: round(v, 1) for k, v in half.cpu.items()},
            "front_end": {k: round(v, 1) for k, v in front.cpu.items()},
            "answering_baseline": {k: round(v, 1) for k, v in answering.cpu.items()},
            "bare_adapter": {k: round(v, 1) for k, v in bare.cpu.items()},
            **{
                name: {k: round(v, 1) for k, v in each.cpu.items()}
                for name, each in zip(PACED_PASSES, paced, strict=True)
            },
        },
        "mails": args.mails,
        "workers": args.workers,
        "smtp_processes": args.smtp_processes,
        "concurrency": args.concurrency,
        "threads": args.threads,
        "order": args.order,
        "mailbox": args.mailbox,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scaling:
        from bench.scaling import series  # bench.scaling builds on this module's passes

        print_json(asyncio.run(series(args)))
    else:
        print_json(asyncio.run(bench(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
