"""Memory of unfinished DATA transfers: the SMTP listener's RSS while N clients each send
most of a big mail and stop before the final dot (not a timed test).

    python -m bench.smtp_data_memory [--clients 16] [--mb 24]

Two listener processes, one after the other, each `serve_smtp` (MailroomSMTP, our handler,
a hand-off that is never reached) on a free port:
- `spooled`: this tree (DATA past MAILROOM_SMTP_SPOOL_BYTES, 1 MiB, goes to a temp file);
- `in_memory`: the same with aiosmtpd 1.4.6's own smtp_DATA, which keeps every line in a
  list until the final dot: the baseline, measured in the same run.
For each: VmRSS before, VmHWM (the peak) once every client has sent its body (the listener
has read it all: its CPU time stopped growing), VmRSS after the clients hung up, then the
time one whole mail of that size takes from 354 to 250. The last line is JSON with the
deltas and the ratio baseline / spooled.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ROOT, cpu_seconds, free_port
from bench.report import print_json

MAILBOX = "support@mailroom.local"
QUIET_SECONDS = 1.0  # the listener's CPU time unchanged this long: it read all it was sent
TIMEOUT_SECONDS = 300.0


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


async def serve(variant: str, port: int, spool_dir: Path) -> None:
    """The listener process (`--serve`): runs until killed."""
    from adapters.inbound.smtp import SmtpInboundHandler
    from adapters.inbound.smtp_data import Spool
    from adapters.inbound.smtp_listener import serve_smtp
    from adapters.inbound.smtp_session import MailroomSMTP, SessionRules
    from use_cases.mailboxes import Mailboxes
    from use_cases.models import Ingested

    if variant == "in_memory":
        from aiosmtpd.smtp import SMTP

        MailroomSMTP.smtp_DATA = SMTP.smtp_DATA  # type: ignore[method-assign]

    async def discard(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        return Ingested(message_id="<never@bench>", thread_ids=())

    handler = SmtpInboundHandler(Mailboxes(["mailroom.local"]), discard)
    await serve_smtp(
        handler,
        host="127.0.0.1",
        port=port,
        max_message_bytes=64 * 1024 * 1024,
        rules=SessionRules(spool=Spool(spool_dir)),
    )
    print("ready", flush=True)
    await asyncio.Event().wait()


def start_listener(variant: str, spool_dir: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    command = [sys.executable, "-m", "bench.smtp_data_memory", "--serve", variant]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--spool-dir", str(spool_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError(f"{variant} listener did not start")
    return process, port


def expect(sock: socket.socket, code: bytes) -> None:
    reply = b""
    while not reply.endswith(b"\r\n") or reply.split(b"\r\n")[-2][3:4] == b"-":
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("listener closed the connection")
        reply += chunk
    if not reply.split(b"\r\n")[-2].startswith(code):
        raise RuntimeError(f"expected {code!r}, got {reply!r}")


def unfinished_transfer(port: int, body_bytes: int) -> socket.socket:
    """A client that sends `body_bytes` of a mail and stops before the final dot."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS)
    expect(sock, b"220")
    for command, code in [
        (b"EHLO bench.example", b"250"),
        (b"MAIL FROM:<bench@example.com>", b"250"),
        (f"RCPT TO:<{MAILBOX}>".encode(), b"250"),
        (b"DATA", b"354"),
    ]:
        sock.sendall(command + b"\r\n")
        expect(sock, code)
    line = b"x" * 76 + b"\r\n"
    block = b"Subject: big\r\n\r\n" + line * (1024 * 1024 // len(line))
    sent = 0
    while sent < body_bytes:
        sock.sendall(block)
        sent += len(block)
    return sock


def complete_transfer(port: int, body_bytes: int) -> float:
    """Seconds from DATA's 354 to the 250 of one whole mail of `body_bytes`."""
    sock = unfinished_transfer(port, 0)
    line = b"x" * 76 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * (body_bytes // len(line))
    began = time.perf_counter()
    sock.sendall(body + b".\r\n")
    expect(sock, b"250")
    elapsed = time.perf_counter() - began
    sock.close()
    return elapsed


def wait_quiet(pid: int) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    last, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - since < QUIET_SECONDS:
        if time.monotonic() > deadline:
            raise RuntimeError("listener never went quiet")
        time.sleep(0.2)
        now = cpu_seconds(pid)
        if now != last:
            last, since = now, time.monotonic()


async def measure(variant: str, clients: int, body_bytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
        process, port = start_listener(variant, Path(spool))
        try:
            wait_quiet(process.pid)
            before = status_kb(process.pid, "VmRSS")
            socks = await asyncio.gather(
                *(asyncio.to_thread(unfinished_transfer, port, body_bytes) for _ in range(clients))
            )
            wait_quiet(process.pid)
            peak = status_kb(process.pid, "VmHWM")
            during = status_kb(process.pid, "VmRSS")
            for sock in socks:
                sock.close()
            wait_quiet(process.pid)
            after = status_kb(process.pid, "VmRSS")
            one_mail_seconds = complete_transfer(port, body_bytes)
        finally:
            process.kill()
            process.wait()
    figures = {
        "rss_before_kb": before,
        "rss_peak_kb": peak,
        "rss_during_kb": during,
        "rss_after_kb": after,
        "peak_delta_mb": round((peak - before) / 1024, 1),
        "after_delta_mb": round((after - before) / 1024, 1),
        "one_whole_mail_seconds": round(one_mail_seconds, 2),
    }
    print(
        f"{variant}: RSS {before} kB before, peak {peak} kB (+{figures['peak_delta_mb']} MB), "
        f"{after} kB after the clients hung up (+{figures['after_delta_mb']} MB); "
        f"one whole mail of that size {one_mail_seconds:.2f} s from 354 to 250",
        flush=True,
    )
    return figures


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    body_bytes = args.mb * 1024 * 1024
    figures: dict[str, Any] = {"clients": args.clients, "mb_each": args.mb}
    for variant in ("in_memory", "spooled"):
        figures[variant] = await measure(variant, args.clients, body_bytes)
    spooled = max(figures["spooled"]["peak_delta_mb"], 0.1)
    figures["peak_ratio_in_memory_to_spooled"] = round(
        figures["in_memory"]["peak_delta_mb"] / spooled, 1
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_data_memory", description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--mb", type=int, default=24, help="body sent by each client, in MB")
    parser.add_argument("--serve", choices=["spooled", "in_memory"], help=argparse.SUPPRESS)
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
