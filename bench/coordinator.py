"""Coordinator benchmark (issue 18): how many grants/s and workflow items/s the singleton
CoordinatorWorkflow answers before the lag (request sent → instruction received) passes 1 s.

    python -m bench.coordinator [--rates 10,20,…] [--seconds S] [--lanes L] [--shards K]
                                [--only daemons|items] [--quick]

An embedded server, `mailroom worker` (which serves the coordinator) and bench.coordinator_peers
(the items' inboxes, the baselines' do-nothing workflows) as subprocesses. Two paths, each in
steps of rising offered rate (open loop: request i leaves at i/rate, whatever came back):

- daemons: request_lane (update-with-start) on one of L lanes, answered GO (or NO_GO when
  the lane is taken), then let_go with deregister: lag = request_lane's round trip.
  Baseline: two bare update-with-starts of a workflow that answers at once, same rate.
- workflow items: a StartProcessing signal (signal-with-start, what the coordinator_signal
  activity sends) naming an inbox workflow, then StopProcessing: lag = sent → the inbox's
  workflow task that took GO. Baseline: signal-with-start of a workflow that signals the
  inbox back at once, same rate.

A path stops at the first step whose p99 lag passes 1 s; its ceiling is the answered rate of
the step before. `--shards K` spreads the lanes over K coordinators (MAILROOM_COORDINATOR_SHARDS)
on the same worker. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.coordinator_load import Pass, daemon_pass, signal_pass
from bench.harness import BenchStack, bench_stack
from bench.report import print_json
from orchestrator.bootstrap import coordinator
from use_cases.coordinator import CoordinatorView

LAG_LIMIT_MS = 1000.0
PEERS_QUEUE = "bench-coordinator-peers"


@dataclass
class Step:
    path: str
    offered: float
    coordinator: Pass
    baseline: Pass
    load_average: float

    def line(self) -> str:
        c, b = self.coordinator, self.baseline
        return (
            f"{self.path:7} {self.offered:6.0f}/s | {c.answered_rate:6.1f}/s "
            f"p50 {c.lag.p50_ms:7.1f} p99 {c.lag.p99_ms:7.1f} ms lost {c.lost:3} "
            f"| base {b.answered_rate:6.1f}/s p50 {b.lag.p50_ms:7.1f} p99 {b.lag.p99_ms:7.1f} ms "
            f"lost {b.lost:3} | load {self.load_average}{failures(c, b)}"
        )


def failures(ours: Pass, base: Pass) -> str:
    said = [f"{name} {kinds}" for name, kinds in (("ours", ours.failed), ("base", base.failed))]
    return f" | failed: {'; '.join(said)}" if ours.failed or base.failed else ""


def over_limit(measured: Pass) -> bool:
    return measured.lost > 0 or measured.lag.p99_ms > LAG_LIMIT_MS


def ceiling(steps: list[Step]) -> float:
    """The answered rate of the last step under the limit (0: none was)."""
    under = [s.coordinator.answered_rate for s in steps if not over_limit(s.coordinator)]
    return max(under, default=0.0)


PassOf = Callable[[float, str], Awaitable[Pass]]


async def climb(
    stack: BenchStack, path: str, rates: list[float], ours: PassOf, base: PassOf
) -> list[Step]:
    steps: list[Step] = []
    for rate in rates:
        load_average = round(os.getloadavg()[0], 2)
        tag = uuid.uuid4().hex[:6]
        baseline = await base(rate, f"b{tag}")
        await stack.wait_idle(30)
        measured = await ours(rate, f"c{tag}")
        await stack.wait_idle(30)
        steps.append(Step(path, rate, measured, baseline, load_average))
        print(steps[-1].line(), flush=True)
        if over_limit(measured):
            break
    return steps


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    # a request given up (timed out) leaves the SDK's future unretrieved: not news here
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    async with bench_stack(log_level=args.log_level) as stack:
        s = stack.settings
        shards = {"coordinator_shards": args.shards}
        settings = s.model_copy(update={"queue_prefix": f"{s.task_queue}-", **shards})
        coord = coordinator(settings, stack.client)
        await stack.mailroom("worker")
        serve = ["--target", stack.target, "--task-queue", PEERS_QUEUE]
        peers = await stack.spawn(
            "peers", [sys.executable, "-m", "bench.coordinator_peers", *serve]
        )
        await peers.wait_for_output("ready")
        client, seconds, lanes = stack.client, args.seconds, args.lanes
        print(f"server {stack.target}; {os.cpu_count()} cores; {seconds} s a step")
        daemons = await climb(
            stack,
            "daemons",
            args.rates if args.only in (None, "daemons") else [],
            lambda r, t: daemon_pass(coord, client, PEERS_QUEUE, r, seconds, t, lanes=lanes),
            lambda r, t: daemon_pass(None, client, PEERS_QUEUE, r, seconds, t, lanes=lanes),
        )
        items = await climb(
            stack,
            "items",
            args.rates if args.only in (None, "items") else [],
            lambda r, t: signal_pass(coord, client, PEERS_QUEUE, r, seconds, t),
            lambda r, t: signal_pass(None, client, PEERS_QUEUE, r, seconds, t),
        )
        view = await coord.view()
    return figures(daemons, items, view, args)


def figures(
    daemons: list[Step], items: list[Step], view: CoordinatorView | None, args: argparse.Namespace
) -> dict[str, Any]:
    result = {
        "grants_per_s": round(ceiling(daemons), 1),
        "items_per_s": round(ceiling(items), 1),
        "lag_limit_ms": LAG_LIMIT_MS,
        "seconds_per_step": args.seconds,
        "lanes": args.lanes,
        "shards": args.shards,
        "cores": os.cpu_count(),
        "coordinator_runs": view.runs if view else None,
        "signals_handled": view.signals_handled if view else None,
        "daemons": [asdict(s) for s in daemons],
        "items": [asdict(s) for s in items],
    }
    print(
        f"ceiling (p99 lag ≤ {LAG_LIMIT_MS:.0f} ms): {result['grants_per_s']} grants/s "
        f"(daemons, request_lane + let_go each), {result['items_per_s']} items/s "
        f"(workflow items: 2 signals in, 1 out each); coordinator runs "
        f"{result['coordinator_runs']}, signals handled {result['signals_handled']}"
    )
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.coordinator", description=__doc__)
    parser.add_argument("--rates", default="10,20,30,40,50,60,80,100,120")
    parser.add_argument("--seconds", type=float, default=8.0, help="offered load per step")
    parser.add_argument("--lanes", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=1, help="MAILROOM_COORDINATOR_SHARDS")
    parser.add_argument("--only", choices=["daemons", "items"], help="one path")
    parser.add_argument("--quick", action="store_true", help="two short steps: a smoke run")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.seconds = "5,20", 2.0
    args.rates = [float(r) for r in args.rates.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    result = asyncio.run(bench(args))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
