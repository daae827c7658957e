"""Memory: the worker's resident memory with 1 000 and 10 000 open idle threads, and the
SQLite bytes each thread costs.

    python -m bench.memory [--threads 1000,10000] [--concurrency 16] [--max-cached N]

Threads are opened over SMTP through `mailroom smtp` (one first message each, from a
separate client process); a thread counts as open and idle once its history shows the
message applied and the worker has gone quiet.
RSS is VmRSS of `mailroom worker` (/proc/<pid>/status) after it settles. The worker keeps at
most `max_cached_workflows` (Temporal's default, 1 000) workflows in memory and evicts the
rest, which come back by replay when their next message arrives. SQLite bytes are
temporal.db plus its WAL while running; bytes per thread compare temporal.db alone after a
clean server stop (the last connection checkpoints the WAL into it) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from bench.harness import BenchStack, bench_stack, rss_kb, sqlite_bytes
from bench.history import wait_applied
from bench.mails import MAILBOX, Layout
from bench.report import print_json

SETTLE_SECONDS = 2.0
APPLY_TIMEOUT_SECONDS = 900.0


async def settled_rss(stack: BenchStack, pid: int) -> int:
    """RSS once the worker (and the server) went idle: no flow activity still running."""
    await stack.wait_idle()
    await asyncio.sleep(SETTLE_SECONDS)
    return rss_kb(pid)


async def open_threads(stack: BenchStack, args: argparse.Namespace, count: int) -> int:
    """Open `count` new threads (one message each); returns how many were applied."""
    run = uuid.uuid4().hex[:6]
    layout = Layout(count, count, mailbox=args.mailbox)
    load = await stack.smtp_load(f"open-{count}", run, layout, concurrency=args.concurrency)
    # Idle first, then read the histories once: polling thousands of them while the
    # backlog drains would load the server it waits on.
    await stack.wait_idle(within=APPLY_TIMEOUT_SECONDS)
    expected = layout.expected(run, load["records"])
    applied = await wait_applied(stack.client, expected, within=APPLY_TIMEOUT_SECONDS)
    return len(applied)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    marks = sorted(int(n) for n in args.threads.split(","))
    figures: dict[str, Any] = {
        "concurrency": args.concurrency,
        "mailbox": args.mailbox,
        "max_cached_workflows": args.max_cached or "default",
    }
    async with bench_stack(log_level=args.log_level, keep=args.keep) as stack:
        db_initial = await stack.restart_server()
        cache = {"MAILROOM_MAX_CACHED_WORKFLOWS": str(args.max_cached)} if args.max_cached else {}
        worker = await stack.mailroom("worker", **cache)
        await stack.mailroom("smtp")
        bytes_before = sqlite_bytes(stack.data_dir)
        rss_before = await settled_rss(stack, worker.pid)
        figures["worker_rss_kb_0"] = rss_before
        print(f"0 threads: worker RSS {rss_before} kB, SQLite {bytes_before} B")
        opened = 0
        for mark in marks:
            opened += await open_threads(stack, args, mark - opened)
            rss = await settled_rss(stack, worker.pid)
            db = sqlite_bytes(stack.data_dir)
            per_thread = (rss - rss_before) * 1024 / max(opened, 1)
            print(
                f"{opened} threads: worker RSS {rss} kB ({per_thread / 1024:.1f} KB/thread), "
                f"SQLite {db} B ({(db - bytes_before) / max(opened, 1):.0f} B/thread)"
            )
            figures[f"worker_rss_kb_{mark}"] = rss
            figures[f"worker_kb_per_thread_{mark}"] = round(per_thread / 1024, 2)
            figures[f"sqlite_bytes_{mark}"] = db
        await stack.stop_server()
        db_final = (stack.data_dir / "temporal.db").stat().st_size
    figures["threads"] = opened
    figures["sqlite_bytes_after_checkpoint"] = db_final
    figures["sqlite_bytes_per_thread"] = round((db_final - db_initial) / max(opened, 1))
    print(
        f"after a clean stop: temporal.db {db_final} B, "
        f"{figures['sqlite_bytes_per_thread']} B/thread"
    )
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.memory")
    p.add_argument("--threads", default="1000,10000", help="open-thread counts to measure at")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--mailbox", default=MAILBOX, help="recipient (its flow, if any, runs)")
    p.add_argument("--max-cached", type=int, help="the worker's MAILROOM_MAX_CACHED_WORKFLOWS")
    p.add_argument("--log-level", default="info")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    print_json(asyncio.run(bench(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
