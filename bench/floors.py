"""What the SMTP adapter's parts cost at the least, measured alone on this machine: the floor
under issue 19's CPU target for the adapter (≤ 2 ms a mail).

    python -m bench.floors [--mails 400] [--concurrency 8]

- `smtp`: aiosmtpd itself, a handler that answers 250 at once, the bench's mail from smtplib
  clients in another process (bench.adapter_cpu's clients): CPU of this process per mail;
- `signal_with_start`: the Temporal SDK's `start_workflow` with a start signal, as the
  gateway calls it, from `--concurrency` tasks against the embedded server (no worker, the
  SDK's default converter, a 1.5 KB payload): CPU of this process (every thread, the SDK's
  Rust ones too) per call;
- `durable_file`: a 2 KB file made durable as the blob store does (write, fsync, rename,
  fsync of its directory), one after another.

mailroom's adapter does all three for each mail, and parses, threads, seals and records it
besides; `bench.adapter_cpu` and `bench.ingest` measure what it spends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Sequence

from bench.adapter_cpu import cpu_ms_per_mail_sent, cpu_seconds
from bench.harness import ROOT, bench_stack, free_port
from bench.report import print_json


async def smtp_floor(mails: int, clients: int) -> float:
    from aiosmtpd.smtp import SMTP

    class Accept:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    loop = asyncio.get_running_loop()
    port = free_port()
    server = await loop.create_server(
        lambda: SMTP(Accept(), hostname="bench", loop=loop), "127.0.0.1", port
    )
    try:
        return await cpu_ms_per_mail_sent(port, mails, clients)
    finally:
        server.close()
        await server.wait_closed()


async def signal_with_start_floor(calls: int, concurrency: int) -> float:
    from temporalio.client import Client

    async with bench_stack(log_level="warning") as stack:
        client = await Client.connect(stack.target)  # the SDK's own converter: no codec
        payload = {"from": "a@example.com", "subject": "hello", "text": "x" * 1500}

        async def start(n: int) -> None:
            await client.start_workflow(
                "AppendWorkflow",
                payload,
                id=f"floor-{n % 40}",
                task_queue="floor-nobody-polls",
                start_signal="new_message",
                start_signal_args=[payload],
            )

        for n in range(50):
            await start(n)  # connection and caches warm
        queue = list(range(calls))

        async def caller() -> None:
            while queue:
                await start(queue.pop())

        before = cpu_seconds()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return (cpu_seconds() - before) / calls * 1000


def durable_file_floor(files: int) -> float:
    data = b"x" * 2048
    with tempfile.TemporaryDirectory(prefix="mailroom-floor-", dir=ROOT) as directory:
        before = cpu_seconds()
        for n in range(files):
            temporary = os.path.join(directory, f"{n}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, os.path.join(directory, str(n)))
            folder = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return (cpu_seconds() - before) / files * 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    figures = {
        "smtp": asyncio.run(smtp_floor(args.mails, args.concurrency)),
        "signal_with_start": asyncio.run(signal_with_start_floor(args.mails * 2, args.concurrency)),
        "durable_file": durable_file_floor(args.mails),
    }
    for name, spent in figures.items():
        print(f"{name:18} CPU ms per mail: {spent:.2f}")
    print(f"{'together':18} CPU ms per mail: {sum(figures.values()):.2f}")
    print_json({"cpu_ms_per_mail": {k: round(v, 3) for k, v in figures.items()}})


if __name__ == "__main__":
    main()
