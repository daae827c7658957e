"""Replay: `mailroom replay` of a generated mbox, messages per second.

    python -m bench.replay [--messages 10000] [--threads 1000]

The mbox is written first (not timed). `mailroom replay FILE` runs as a subprocess against
the embedded server with `mailroom worker` running; rate = messages / the command's wall
time (process start included). applied_rate also waits until every message is applied in
its thread (read from the histories, see bench.history).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from typing import Any

from bench.harness import bench_stack
from bench.history import wait_applied
from bench.mails import MAILBOX, Layout, write_mbox
from bench.report import print_json

APPLY_TIMEOUT_SECONDS = 900.0


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    layout = Layout(args.messages, args.threads, mailbox=args.mailbox)
    async with bench_stack(log_level=args.log_level, keep=args.keep) as stack:
        mbox = stack.data_dir / "replay.mbox"
        write_mbox(mbox, run=run, layout=layout)
        print(
            f"wrote {args.messages} messages in {layout.thread_count()} threads to {mbox} "
            f"({mbox.stat().st_size} B)"
        )
        await stack.mailroom("worker")
        cpu_before = children_cpu_seconds()
        started = time.time()
        replay = await stack.spawn(
            "replay", [sys.executable, "-m", "orchestrator.cli", "replay", str(mbox)]
        )
        code = await replay.process.wait()
        seconds = time.time() - started
        replay_cpu = children_cpu_seconds() - cpu_before
        summary = replay.stdout.read_text().strip()
        if code != 0:
            errors = (stack.data_dir / "replay.err").read_text()[-2000:]
            raise RuntimeError(f"mailroom replay exited {code}:\n{errors}")
        expected = layout.expected(run)
        applied = await wait_applied(stack.client, expected, within=APPLY_TIMEOUT_SECONDS)
    last_applied = max(applied.values(), default=started)
    rate = args.messages / seconds
    applied_rate = len(applied) / max(last_applied - started, 1e-9)
    print(summary)
    print(
        f"replay: {seconds:.1f} s, {rate:.1f} messages/s (CPU {replay_cpu:.1f} s); "
        f"all applied after {last_applied - started:.1f} s: {applied_rate:.1f} messages/s"
    )
    return {
        "messages": args.messages,
        "threads": layout.thread_count(),
        "seconds": round(seconds, 2),
        "rate": round(rate, 1),
        "applied": len(applied),
        "applied_rate": round(applied_rate, 1),
        "replay_cpu_s": round(replay_cpu, 2),
        "summary": summary,
        "mailbox": args.mailbox,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.replay")
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1_000)
    p.add_argument("--mailbox", default=MAILBOX, help="recipient (its flow, if any, runs)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    print_json(asyncio.run(bench(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
