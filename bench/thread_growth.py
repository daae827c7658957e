"""Thread growth: one thread receives many messages; does it stay as fast as it started?

    python -m bench.thread_growth [--messages 5000] [--concurrency 1] [--messages-per-run 500]

Messages go over SMTP (from a separate client process) to `mailroom smtp` and `mailroom
worker` (MAILROOM_MESSAGES_PER_RUN set from the option). Per message: the hand-off time (the
SMTP transaction up to the 250) and end-to-end latency (250 → applied in the workflow, from
the history, see bench.history), for the first and the last 1 000 messages. Also the
length of every run's history (continue-as-new after `messages_per_run` keeps it bounded)
and the worker's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from bench.harness import bench_stack, rss_kb
from bench.history import wait_applied, workflow_facts
from bench.mails import MAILBOX, Layout
from bench.report import Latency, end_to_end, handoff, print_json

APPLY_TIMEOUT_SECONDS = 300.0
RSS_SAMPLE_SECONDS = 1.0


async def sample_rss(pid: int, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rss_kb(pid))
        await asyncio.sleep(RSS_SAMPLE_SECONDS)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    thread = Layout(args.messages, 1, mailbox=args.mailbox)
    (workflow_id,) = thread.workflow_ids(run)
    async with bench_stack(log_level=args.log_level, keep=args.keep) as stack:
        worker = await stack.mailroom("worker")
        await stack.mailroom("smtp", MAILROOM_MESSAGES_PER_RUN=str(args.messages_per_run))
        rss_start = rss_kb(worker.pid)
        samples: list[int] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(worker.pid, samples, stop))
        load = await stack.smtp_load("smtp", run, thread, concurrency=args.concurrency)
        records = load["records"]
        expected = thread.expected(run, records)
        applied = await wait_applied(stack.client, expected, within=APPLY_TIMEOUT_SECONDS)
        await stack.wait_idle()
        stop.set()
        await sampler
        facts = await workflow_facts(stack.client, workflow_id)
        rss_end = rss_kb(worker.pid)
    in_order = sorted(records, key=lambda mid: records[mid][0])
    window = min(args.window, len(in_order) // 2)
    first = {mid: records[mid] for mid in in_order[:window]}
    last = {mid: records[mid] for mid in in_order[-window:]}
    return figures(args, first, last, applied, facts.run_lengths, [rss_start, *samples, rss_end])


def figures(
    args: argparse.Namespace,
    first: dict[str, list[float]],
    last: dict[str, list[float]],
    applied: dict[str, float],
    run_lengths: list[int],
    rss: list[int],
) -> dict[str, Any]:
    e2e_first, e2e_last = (
        Latency.of(end_to_end(first, applied)),
        Latency.of(end_to_end(last, applied)),
    )
    ho_first, ho_last = Latency.of(handoff(first)), Latency.of(handoff(last))
    print(f"first {len(first)}: 250 → applied {e2e_first.line()}")
    print(f"last  {len(last)}: 250 → applied {e2e_last.line()}")
    print(f"first {len(first)}: SMTP to 250   {ho_first.line()}")
    print(f"last  {len(last)}: SMTP to 250   {ho_last.line()}")
    print(f"{len(run_lengths)} runs, history events per run: {run_lengths}")
    print(f"worker RSS: start {rss[0]} kB, end {rss[-1]} kB, max {max(rss)} kB")
    total_first = e2e_first.p50_ms + ho_first.p50_ms
    total_last = e2e_last.p50_ms + ho_last.p50_ms
    return {
        "messages": args.messages,
        "applied": len(applied),
        "concurrency": args.concurrency,
        "messages_per_run": args.messages_per_run,
        "first_p50_ms": e2e_first.p50_ms,
        "first_p99_ms": e2e_first.p99_ms,
        "last_p50_ms": e2e_last.p50_ms,
        "last_p99_ms": e2e_last.p99_ms,
        "first_handoff_p50_ms": ho_first.p50_ms,
        "last_handoff_p50_ms": ho_last.p50_ms,
        # hand-off + apply, the whole per-message latency; target: last <= 1.2 x first
        "last_over_first": round(total_last / total_first, 3) if total_first else None,
        "runs": len(run_lengths),
        "history_events_max": max(run_lengths),
        "history_events_per_run": run_lengths,
        "worker_rss_kb_start": rss[0],
        "worker_rss_kb_end": rss[-1],
        "worker_rss_kb_max": max(rss),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.thread_growth")
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--window", type=int, default=1000, help="first/last N messages compared")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--messages-per-run", type=int, default=500)
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
