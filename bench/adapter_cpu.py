"""Where the SMTP adapter's CPU per mail goes: the front door in one process, part by part.

    python -m bench.adapter_cpu [--mails 400] [--concurrency 8] [--rounds 2]

`serve_smtp` and `SmtpInboundHandler`, as `mailroom smtp` wires them, receive the bench's
mail (bench.mails, 40 conversations) from smtplib clients in another process; no Temporal:
the hand-off stops where the gateway would call it, after building and encoding what the
signal-with-start sends (the thread's input, the mail, the Web UI's summary and details).
Each variant runs in a process of its own and reports that process's CPU (user + system,
every thread) per mail, from the first mail to the last 250:

- `protocol`: the SMTP dialogue alone (the hand-off answers at once);
- `ingest`: + parsing, classification, threading without an index, the payload;
- `index`: + the thread index (a lookup before, a record after);
- `blobs`: + the claim-check (raw mail kept, pinned, settled: the blob store's fsyncs).

What `bench.ingest` measures beyond `blobs` is the Temporal client (the call and its gRPC
threads) and the backlog probes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ROOT, free_port
from bench.report import print_json

VARIANTS = ("protocol", "ingest", "index", "blobs")
CLIENTS = r"""
import smtplib, sys, threading
from bench.mails import Layout, thread_mail
port, mails, clients, run = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
layout = Layout(mails, 40)
batch = [thread_mail(run, i, layout) for i in range(mails)]
def send(k):
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for mail in batch[k::clients]:
            smtp.sendmail(mail.sender, [layout.mailbox], mail.raw)
threads = [threading.Thread(target=send, args=(k,)) for k in range(clients)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def send(port: int, mails: int, clients: int, run: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENTS, str(port), str(mails), str(clients), run, cwd=ROOT
    )
    if await process.wait() != 0:
        raise RuntimeError("the SMTP clients failed")


async def measure(variant: str, mails: int, clients: int) -> float:
    """CPU ms per mail of this process serving `mails` mails as `variant`."""
    from adapters.inbound.smtp import SmtpInboundHandler
    from adapters.inbound.smtp_listener import serve_smtp
    from bench.adapter_handoff import handoff
    from orchestrator.bootstrap import bootstrap
    from orchestrator.logs import configure_logging
    from orchestrator.services import front_door, protocol_rules
    from orchestrator.settings import Settings

    configure_logging("warning")
    data_dir = Path(tempfile.mkdtemp(prefix="mailroom-adapter-cpu-"))
    port = free_port()
    settings = Settings(data_dir=data_dir, domains=["mailroom.local"], smtp_port=port)
    wiring = bootstrap(settings)
    admission, recipients, thread_rate = front_door(settings)
    rules, _ = protocol_rules(settings)
    handler = SmtpInboundHandler(
        wiring.mailboxes,
        handoff(wiring, variant),
        recipient_limits=recipients,
        thread_rate=thread_rate,
    )
    listener = await serve_smtp(
        handler,
        host="127.0.0.1",
        port=port,
        max_message_bytes=settings.max_message_bytes,
        admission=admission,
        rules=rules,
    )
    try:
        return await cpu_ms_per_mail_sent(port, mails, clients)
    finally:
        await listener.stop()


async def cpu_ms_per_mail_sent(port: int, mails: int, clients: int) -> float:
    """This process's CPU per mail while the clients send `mails` to `port`, after a warm-up
    of a tenth as many."""
    await send(port, max(clients, mails // 10), clients, "warm")
    before = cpu_seconds()
    await send(port, mails, clients, "measured")
    return (cpu_seconds() - before) / mails * 1000


def run_variant(variant: str, args: argparse.Namespace) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "bench.adapter_cpu", "--variant", variant, *options(args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["cpu_ms_per_mail"])


def options(args: argparse.Namespace) -> list[str]:
    return ["--mails", str(args.mails), "--concurrency", str(args.concurrency)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="each variant this many times")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        spent = asyncio.run(measure(args.variant, args.mails, args.concurrency))
        print(json.dumps({"cpu_ms_per_mail": round(spent, 3)}))
        return
    figures: dict[str, Any] = {}
    for variant in VARIANTS:
        runs = [run_variant(variant, args) for _ in range(args.rounds)]
        figures[variant] = round(min(runs), 3)
        print(f"{variant:9} CPU ms per mail: " + ", ".join(f"{r:.2f}" for r in runs))
    print_json({"cpu_ms_per_mail": figures, "mails": args.mails, "clients": args.concurrency})


if __name__ == "__main__":
    main()
