"""Front door: a flood of idle SMTP connections against `mailroom smtp` at `ulimit -n 1024`.

    python -m bench.front_door [--connections 1200] [--nofile 1024] [--hosts 40]

`mailroom smtp` runs with RLIMIT_NOFILE soft = hard = --nofile (the common `ulimit -n 1024`;
it cannot raise it), against an embedded server. Two floods of idle connections that send
nothing after the greeting, each held while a normal mail is sent from another address:
- one host (127.0.0.1): the per-client limit (50) answers the rest 421;
- --hosts addresses (127.0.0.2 ...): the connection cap (768 at 1 024 descriptors) does.
Figures: the smtp part's RSS and open descriptors before, at the peak of each flood, and
after; how the flood was answered; the normal mail's time to its 250 during the flood
against the same mail with no flood (the baseline, same run); the bytes of log written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import smtplib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import print_json

# Execs the rest of argv with RLIMIT_NOFILE set, soft and hard (so it cannot be raised).
WITH_NOFILE = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)
NORMAL_MAIL = (
    b"From: alice@example.com\r\nTo: support@mailroom.local\r\nSubject: hello\r\n"
    b"Message-ID: <front-door-{n}@example.com>\r\n\r\nA normal mail during a flood.\r\n"
)


def smtp_argv(nofile: int) -> list[str]:
    """`mailroom smtp` under a descriptor limit it cannot raise."""
    return [sys.executable, "-c", WITH_NOFILE, str(nofile), "-m", "orchestrator.cli", "smtp"]


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def settled_descriptors(pid: int, floor: int, within: float = 10.0) -> int:
    """Open descriptors once the listener has seen a flood's connections close."""
    deadline = time.monotonic() + within
    while True:
        count = descriptors(pid)
        if count <= floor + 4 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)  # /proc can only be polled


@dataclass
class Flood:
    """Idle connections held open, and how the listener answered each one."""

    answers: Counter[str] = field(default_factory=Counter)  # "220", "421", "none"
    held: list[asyncio.StreamWriter] = field(default_factory=list)

    def close(self) -> None:
        for writer in self.held:
            writer.close()
        self.held.clear()


async def _one(port: int, source: str, flood: Flood) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 10
        )
    except (OSError, TimeoutError):
        flood.answers["none"] += 1
        return
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
    except (OSError, TimeoutError):
        line = b""
    flood.answers[line[:3].decode(errors="replace") or "none"] += 1
    if line.startswith(b"220"):
        flood.held.append(writer)  # idle from now on: it never sends a command
    else:
        writer.close()


async def flood(port: int, count: int, sources: list[str], concurrency: int = 100) -> Flood:
    """`count` connections spread over `sources`, at most `concurrency` opening at once."""
    result = Flood()
    gate = asyncio.Semaphore(concurrency)

    async def opened(n: int) -> None:
        async with gate:
            await _one(port, sources[n % len(sources)], result)

    await asyncio.gather(*(opened(n) for n in range(count)))
    return result


def send_normal_mail(port: int, n: int, source: str = "127.0.0.2") -> tuple[int, float]:
    """One mail over smtplib from `source`: the final reply's code and its seconds."""
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("alice@example.com")
        smtp.rcpt("support@mailroom.local")
        code, _ = smtp.data(NORMAL_MAIL.replace(b"{n}", str(n).encode()))
    return code, time.perf_counter() - began


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from bench.harness import bench_stack  # the embedded server; not needed by the test

    figures: dict[str, Any] = {"connections": args.connections, "nofile": args.nofile}
    async with bench_stack(log_level="info") as stack:
        part = await stack.spawn("smtp", smtp_argv(args.nofile))
        await part.wait_for_output("smtp ")
        port, pid = stack.settings.smtp_port, part.pid
        log = stack.data_dir / "smtp.err"
        # the first mail opens what stays open (the Temporal connection, stores, parsers)
        await asyncio.to_thread(send_normal_mail, port, 0)
        figures["rss_kb_before"], figures["fds_before"] = rss_kb(pid), descriptors(pid)
        code, baseline = await asyncio.to_thread(send_normal_mail, port, 1)
        figures["baseline_mail_ms"] = round(baseline * 1000, 1)
        many = [f"127.0.0.{n}" for n in range(10, 10 + args.hosts)]
        for name, sources in (("one_host", ["127.0.0.1"]), ("many_hosts", many)):
            began = time.perf_counter()
            held = await flood(port, args.connections, sources)
            figures[f"{name}_flood_seconds"] = round(time.perf_counter() - began, 2)
            figures[f"{name}_answers"] = dict(held.answers)  # 220: greeted, maybe shed later
            figures[f"{name}_rss_kb_peak"] = rss_kb(pid)
            figures[f"{name}_fds_peak"] = descriptors(pid)
            code, seconds = await asyncio.to_thread(send_normal_mail, port, len(figures))
            figures[f"{name}_mail_reply"] = code
            figures[f"{name}_mail_ms"] = round(seconds * 1000, 1)
            figures[f"{name}_mail_ratio"] = round(seconds / baseline, 2)
            held.close()
            figures[f"{name}_fds_after"] = await settled_descriptors(pid, figures["fds_before"])
        figures["rss_kb_after"] = rss_kb(pid)
        figures["log_bytes"] = log.stat().st_size
        figures["log_lines"] = dict(log_events(log))
    return figures


def log_events(log: Path) -> Counter[str]:
    """Lines of the part's log by event (`text` for lines that are not JSON)."""
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            counts[str(json.loads(line).get("event"))] += 1
        except (ValueError, AttributeError):
            counts["text"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1200)
    parser.add_argument("--nofile", type=int, default=1024)
    parser.add_argument("--hosts", type=int, default=40)
    figures = asyncio.run(bench(parser.parse_args()))
    for key, value in figures.items():
        print(f"{key}: {value}")
    print_json(figures)


if __name__ == "__main__":
    main()
