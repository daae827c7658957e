"""Memory of finished mails waiting for their hand-off: the SMTP listener's RSS while N
clients each send a whole mail (to the final dot) and the hand-off does not answer, as
when Temporal is slow (not a timed test).

    python -m bench.smtp_pending_memory [--clients 16] [--mb 24] [--budget-mb 256]

Two listener processes, one after the other, each `serve_smtp` (MailroomSMTP, our handler,
a hand-off that waits for ever) on a free port:
- `budget`: this tree, with MAILROOM_SMTP_MAX_PENDING_BYTES = --budget-mb: a body past it
  is answered 451 4.3.2 after its dot and let go;
- `unbounded`: the same with a budget no mail reaches: the baseline (what the tree did
  before the budget), measured in the same run.
For each: VmRSS before, VmHWM (the peak) once every body was read (the listener's CPU time
stopped growing), and how many clients were answered 451. The last line is JSON with the
deltas and the ratio baseline / budget.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ROOT, free_port
from bench.report import print_json
from bench.smtp_data_memory import expect, status_kb, unfinished_transfer, wait_quiet

UNBOUNDED = 1 << 50


async def serve(budget_bytes: int, port: int, spool_dir: Path) -> None:
    """The listener process (`--serve`): runs until killed."""
    from adapters.inbound.smtp import SmtpInboundHandler
    from adapters.inbound.smtp_data import Spool
    from adapters.inbound.smtp_listener import serve_smtp
    from adapters.inbound.smtp_session import SessionRules
    from use_cases.mailboxes import Mailboxes
    from use_cases.models import Ingested

    never = asyncio.Event()

    async def stuck(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        await never.wait()
        raise AssertionError("unreachable")

    handler = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]), stuck, max_pending_bytes=budget_bytes
    )
    await serve_smtp(
        handler,
        host="127.0.0.1",
        port=port,
        max_message_bytes=64 * 1024 * 1024,
        rules=SessionRules(spool=Spool(spool_dir)),
    )
    print("ready", flush=True)
    await never.wait()


def start_listener(budget_bytes: int, spool_dir: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    command = [sys.executable, "-m", "bench.smtp_pending_memory", "--serve", str(budget_bytes)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--spool-dir", str(spool_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("listener did not start")
    return process, port


def finished_transfer(port: int, body_bytes: int) -> socket.socket:
    sock = unfinished_transfer(port, body_bytes)
    sock.sendall(b"\r\n.\r\n")
    return sock


def deferred(sock: socket.socket) -> bool:
    """Whether the listener answered this client 451 (the others wait for their 250)."""
    sock.settimeout(2.0)
    try:
        expect(sock, b"451")
    except (TimeoutError, RuntimeError):
        return False
    return True


async def measure(variant: str, budget_bytes: int, clients: int, body_bytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
        process, port = start_listener(budget_bytes, Path(spool))
        try:
            wait_quiet(process.pid)
            before = status_kb(process.pid, "VmRSS")
            socks = await asyncio.gather(
                *(asyncio.to_thread(finished_transfer, port, body_bytes) for _ in range(clients))
            )
            wait_quiet(process.pid)
            peak = status_kb(process.pid, "VmHWM")
            answers = await asyncio.gather(*(asyncio.to_thread(deferred, s) for s in socks))
            for sock in socks:
                sock.close()
        finally:
            process.kill()
            process.wait()
    figures = {
        "rss_before_kb": before,
        "rss_peak_kb": peak,
        "peak_delta_mb": round((peak - before) / 1024, 1),
        "answered_451": sum(answers),
        "held_for_hand_off": clients - sum(answers),
    }
    print(
        f"{variant}: RSS {before} kB before, peak {peak} kB (+{figures['peak_delta_mb']} MB); "
        f"{figures['held_for_hand_off']} mails held for their hand-off, "
        f"{figures['answered_451']} answered 451",
        flush=True,
    )
    return figures


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    body_bytes = args.mb * 1024 * 1024
    figures: dict[str, Any] = {"clients": args.clients, "mb_each": args.mb}
    figures["budget_mb"] = args.budget_mb
    variants = {"unbounded": UNBOUNDED, "budget": args.budget_mb * 1024 * 1024}
    for variant, budget in variants.items():
        figures[variant] = await measure(variant, budget, args.clients, body_bytes)
    bounded = max(figures["budget"]["peak_delta_mb"], 0.1)
    figures["peak_ratio_unbounded_to_budget"] = round(
        figures["unbounded"]["peak_delta_mb"] / bounded, 1
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.smtp_pending_memory", description=__doc__
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--mb", type=int, default=24, help="the mail each client sends, in MB")
    parser.add_argument("--budget-mb", type=int, default=256)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spool-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port, args.spool_dir))
        return 0
    print_json(asyncio.run(bench(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
