"""`python -m bench`: every benchmark in turn, each in its own process, then one JSON line
with all their figures: {"ingest": {...}, "thread_growth": {...}, "memory": {...},
"replay": {...}, "smtp_latency": {...}, "coordinator": {...}}. `--quick` runs each with
small numbers (a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from bench.harness import ROOT

BENCHMARKS: dict[str, list[str]] = {
    "ingest": [],
    "thread_growth": [],
    "memory": [],
    "replay": [],
    "smtp_latency": [],
    "coordinator": [],
}
QUICK: dict[str, list[str]] = {
    "ingest": ["--mails", "200", "--threads", "20", "--concurrency", "8"],
    "thread_growth": ["--messages", "300", "--window", "100", "--messages-per-run", "50"],
    "memory": ["--threads", "100,300"],
    "replay": ["--messages", "300", "--threads", "30"],
    "smtp_latency": ["--sessions", "20"],
    "coordinator": ["--quick"],
}


def run(name: str, extra: list[str]) -> dict[str, Any]:
    print(f"== bench.{name} {' '.join(extra)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    print(done.stdout, end="", flush=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}"}
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke run")
    parser.add_argument("--only", choices=list(BENCHMARKS), action="append")
    args = parser.parse_args()
    chosen = args.only or list(BENCHMARKS)
    options = QUICK if args.quick else BENCHMARKS
    results = {name: run(name, options[name]) for name in chosen}
    print(json.dumps(results), flush=True)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
