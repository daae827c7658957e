"""SMTP response time for a normal session while costly HTML mail arrives (not a timed test).

    python -m bench.smtp_latency [--sessions N] [--trickle-every S] [--html-kb K]
                                 [--baseline-ref REF]

An embedded server, the do-nothing worker of bench.minimal and, one after the other, each
`mailroom smtp` compared (threads that do nothing: what is measured is the adapter):
- `pool`: this tree as configured by default (mail over 8 KB parsed in worker processes);
- `thread`: this tree with MAILROOM_PARSE_WORKERS=0 (parsed in a thread: the GIL is shared);
- `baseline` (with --baseline-ref): the code at REF (`git archive`), run with `python -P`
  so nothing of this tree is imported; e.g. the commit before the parse pool.
For each adapter, N probe sessions (connect, EHLO, MAIL, RCPT, DATA of a 1 KB mail, QUIT,
one at a time, from their own process) are timed first alone (`quiet`), then while another
process sends a K KB HTML-table mail (HTML only) every S seconds over its own connections
(`trickle`). Prints p50/p99/max per adapter and pass, and ratios of the trickle's p99 to
the quiet one; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import smtplib
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import inscriptis

from adapters.inbound.html_text import stripped_text
from adapters.inbound.mime import parse_email
from adapters.inbound.parse_pool import ParsePool
from bench.harness import ROOT, BenchStack, Part, bench_stack, cpu_seconds, free_port
from bench.report import Latency

TASK_QUEUE = "bench-baseline"
MAILBOX = "support@mailroom.local"
TARGET_MS = 100.0
LINE = b"Where is my order?\r\n"


def html_table_mail(kb: int, n: int) -> bytes:
    rows: list[str] = []
    size = 0
    while size < kb * 1024:
        cells = "".join(f"<td>r{len(rows)}c{j} {n}</td>" for j in range(10))
        rows.append(f"<tr>{cells}</tr>\r\n")
        size += len(rows[-1])
    head = (
        f"From: tables@example.com\r\nTo: {MAILBOX}\r\nSubject: table {n}\r\n"
        f"Message-ID: <table-{n}-{uuid.uuid4().hex}@example.com>\r\n"
        "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    )
    return (head + "<html><body><table>" + "".join(rows) + "</table></body></html>").encode()


def small_mail(n: int) -> bytes:
    return (
        f"From: customer{n}@example.com\r\nTo: {MAILBOX}\r\nSubject: question {n}\r\n"
        f"Message-ID: <probe-{n}-{uuid.uuid4().hex}@example.com>\r\n"
        "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n\r\n"
    ).encode() + LINE * 50


def probe(port: int, sessions: int, pause: float) -> dict[str, Any]:
    """N sessions one after the other; each one's seconds from connect to QUIT's answer."""
    seconds: list[float] = []
    failed = 0
    for n in range(sessions):
        started = time.perf_counter()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail(f"customer{n}@example.com", [MAILBOX], small_mail(n))
            seconds.append(time.perf_counter() - started)
        except (smtplib.SMTPException, OSError):
            failed += 1
        time.sleep(pause)
    return {"seconds": seconds, "failed": failed}


def trickle(port: int, every: float, kb: int, stop: threading.Event, sent: list[int]) -> None:
    """One K KB HTML mail every `every` seconds, each on its own connection, until `stop`."""
    n = 0
    while not stop.is_set():
        due = time.monotonic() + every
        raw = html_table_mail(kb, n)
        worker = threading.Thread(target=_send_one, args=(port, raw, sent), daemon=True)
        worker.start()
        n += 1
        stop.wait(max(0.0, due - time.monotonic()))


def _send_one(port: int, raw: bytes, sent: list[int]) -> None:
    started = time.perf_counter()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            client.sendmail("tables@example.com", [MAILBOX], raw)
        sent.append(1)
        print(f"sent {time.perf_counter() - started:.3f}", flush=True)
    except (smtplib.SMTPException, OSError) as exc:
        sent.append(0)
        print(f"failed {exc!r}"[:300], flush=True)


def client_main(args: argparse.Namespace) -> int:
    """`client probe|trickle`: runs in its own process; probe prints its JSON on stdout."""
    if args.role == "probe":
        print(json.dumps(probe(args.port, args.sessions, args.pause)), flush=True)
        return 0
    sent: list[int] = []
    trickle(args.port, args.every, args.kb, threading.Event(), sent)  # until terminated
    return 0


async def run_probe(port: int, args: argparse.Namespace) -> Latency:
    argv = [sys.executable, "-m", "bench.smtp_latency", "client", "probe", "--port", str(port)]
    argv += ["--sessions", str(args.sessions), "--pause", str(args.pause)]
    done = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=subprocess.PIPE)
    out, _ = await done.communicate()
    result = json.loads(out.decode().strip().splitlines()[-1])
    if result["failed"]:
        print(f"  {result['failed']} probe sessions failed")
    return Latency.of(result["seconds"])


async def measure(
    stack: BenchStack, name: str, part: Part, port: int, args: argparse.Namespace
) -> dict[str, Any]:
    await stack.wait_idle()
    quiet = await run_probe(port, args)
    argv = [sys.executable, "-m", "bench.smtp_latency", "client", "trickle", "--port", str(port)]
    argv += ["--every", str(args.trickle_every), "--kb", str(args.html_kb)]
    sender = await stack.spawn(f"trickle-{name}", argv)
    try:
        await asyncio.sleep(args.trickle_every * 2)  # the first few are being parsed
        cpu_before = cpu_seconds(part.pid)
        busy = await run_probe(port, args)
        adapter_cpu = cpu_seconds(part.pid) - cpu_before
    finally:
        await sender.stop()
    await part.stop()
    outcomes = sender.stdout.read_text().split()
    accepted, refused = outcomes.count("sent"), outcomes.count("failed")
    print(f"{name:8} quiet   {quiet.line()}")
    print(f"{name:8} trickle {busy.line()}")
    print(
        f"{name:8} HTML mails accepted {accepted}, refused {refused}; adapter CPU during "
        f"the trickle's probes {adapter_cpu:.1f} s (its parse workers not counted)"
    )
    return {
        "quiet": quiet.__dict__,
        "trickle": busy.__dict__,
        "html_accepted": accepted,
        "html_refused": refused,
        "adapter_cpu_s": round(adapter_cpu, 2),
        "p99_ratio": round(busy.p99_ms / quiet.p99_ms, 2) if quiet.p99_ms else None,
    }


async def parse_costs() -> dict[str, Any]:
    """Where parsing costs what, in this process (the stack stopped): CPU of a parse on the
    loop's thread against the loop thread's CPU and the wall time of a trip to the pool;
    and a 500 KB HTML table rendered by inscriptis against the linear stripper."""
    pool = ParsePool(workers=1, cpu_seconds=30)
    await pool.off_loop(small_mail(0))  # workers started
    plain = small_mail(1)
    mails = {
        "plain_1kb": plain,
        "plain_7kb": plain.replace(LINE * 50, LINE * 350),
        "html_table_8kb": html_table_mail(8, 1)[: 8 * 1024],
    }
    figures: dict[str, Any] = {}
    rounds = 100
    try:
        for name, raw in mails.items():
            started = time.thread_time()
            for _ in range(rounds):
                parse_email(raw)
            on_loop = (time.thread_time() - started) / rounds * 1000
            started, wall = time.thread_time(), time.perf_counter()
            for _ in range(rounds):
                await pool.off_loop(raw)
            figures[name] = {
                "bytes": len(raw),
                "on_loop_cpu_ms": round(on_loop, 2),
                "pool_loop_thread_cpu_ms": round((time.thread_time() - started) / rounds * 1000, 2),
                "pool_wall_ms": round((time.perf_counter() - wall) / rounds * 1000, 2),
            }
    finally:
        await pool.close()
    html = html_table_mail(500, 2).partition(b"\r\n\r\n")[2].decode()
    started = time.process_time()
    inscriptis.get_text(html)
    rendered = time.process_time() - started
    started = time.process_time()
    stripped_text(html)
    stripped = time.process_time() - started
    figures["html_table_500kb"] = {
        "inscriptis_cpu_s": round(rendered, 3),
        "stripped_cpu_s": round(stripped, 3),
    }
    for name, row in figures.items():
        print(f"{name}: {row}")
    return figures


def baseline_tree(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    tree = into / "baseline"
    tree.mkdir()
    with tempfile.TemporaryFile() as tar_file:
        tar_file.write(archive.stdout)
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            tar.extractall(tree, filter="data")
    return tree


async def adapter(
    stack: BenchStack, name: str, tree: Path | None = None, **env: str
) -> tuple[Part, int]:
    port = free_port()
    env = {"MAILROOM_TASK_QUEUE": TASK_QUEUE, "MAILROOM_SMTP_PORT": str(port), **env}
    if tree is None:
        part = await stack.mailroom("smtp", name=f"smtp-{name}", **env)
        return part, port
    argv = [sys.executable, "-P", "-m", "orchestrator.cli", "smtp"]
    part = await stack.spawn(f"smtp-{name}", argv, PYTHONPATH=str(tree), **env)
    await part.wait_for_output("smtp ")
    return part, port


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with bench_stack(log_level="warning", keep=args.keep) as stack:
        minimal = await stack.spawn(
            "minimal-worker",
            [
                sys.executable,
                "-m",
                "bench.minimal",
                "--target",
                stack.target,
                "--task-queue",
                TASK_QUEUE,
            ],
        )
        await minimal.wait_for_output("ready")
        configs: list[tuple[str, Path | None, dict[str, str]]] = [
            ("pool", None, {}),
            ("thread", None, {"MAILROOM_PARSE_WORKERS": "0"}),
        ]
        if args.baseline_ref:
            configs.append(("baseline", baseline_tree(args.baseline_ref, stack.data_dir), {}))
        for name, tree, env in configs:
            if args.only and name not in args.only:
                continue
            part, port = await adapter(stack, name, tree, **env)
            results[name] = await measure(stack, name, part, port, args)
    results["parse_costs"] = await parse_costs()
    if "pool" in results:
        pool_p99 = results["pool"]["trickle"]["p99_ms"]
        verdict = "met" if pool_p99 < TARGET_MS else "missed"
        print(f"pool under trickle: p99 {pool_p99} ms (target < {TARGET_MS:g} ms: {verdict})")
    results["settings"] = {
        "sessions": args.sessions,
        "trickle_every_s": args.trickle_every,
        "html_kb": args.html_kb,
        "baseline_ref": args.baseline_ref,
    }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command")
    client = sub.add_parser("client")
    client.add_argument("role", choices=["probe", "trickle"])
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--sessions", type=int, default=100)
    client.add_argument("--pause", type=float, default=0.05)
    client.add_argument("--every", type=float, default=1.0)
    client.add_argument("--kb", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--pause", type=float, default=0.05, help="between probe sessions")
    parser.add_argument("--trickle-every", type=float, default=1.0, help="seconds per HTML mail")
    parser.add_argument("--html-kb", type=int, default=500)
    parser.add_argument("--baseline-ref", default="", help="a commit to compare with")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs)")
    parser.add_argument("--only", action="append", choices=["pool", "thread", "baseline"])
    args = parser.parse_args()
    if args.command == "client":
        return client_main(args)
    print(json.dumps(asyncio.run(bench(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
