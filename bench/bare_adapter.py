"""The bare SMTP adapter: the least any adapter on mailroom's components does for a mail, as a
process of its own, so `bench.ingest` can set the CPU mailroom's adapter spends against it,
measured in the same run (the adapter's CPU baseline, issue 19).

    python -m bench.bare_adapter --port P --target HOST:PORT --task-queue Q --spool DIR

For each mail: aiosmtpd receives it (the SMTP dialogue, as mailroom's listener does), its
header is read by the standard library (`compat32`, header only: Message-ID, References,
In-Reply-To, From, Subject), its raw bytes are made durable (write, fsync, rename, fsync of
the directory, in a thread off the event loop), and the Temporal SDK signals-with-starts the
thread, keyed by the References rule as mailroom keys it, with the mail's fields and body as
the signal (mailroom's converter, sealed as mailroom's are); then `250`. Nothing else: no
admission, no back-pressure, no thread index, no parsing of the body or the addresses, no
classification, no blob references, no logs, metrics or Web UI summaries — none of what
mailroom adds for hostile mail, erasure, threading by index and operators. It is not a mail
service; it is the floor `mailroom smtp` stands on.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import Client

from use_cases.threading import workflow_id_for

WORKFLOW = "BenchAppendWorkflow"  # bench.minimal's: appends each signal, waits forever
PREFIX = "bare-"


def durable(spool: Path, name: str, raw: bytes) -> None:
    """`raw` in `spool/name`, on disk and named once this returns (as the blob store's files)."""
    temporary = spool / f"{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, spool / name)
    folder = os.open(spool, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class BareHandler:
    def __init__(self, client: Client, task_queue: str, spool: Path) -> None:
        self.client = client
        self.task_queue = task_queue
        self.spool = spool
        self.headers = BytesHeaderParser(policy=compat32)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        header = self.headers.parsebytes(raw)
        message_id = str(header.get("Message-ID", "")).strip()
        references = str(header.get("References", "")).split()
        key = references[0] if references else header.get("In-Reply-To") or message_id
        body = raw.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")
        await asyncio.to_thread(durable, self.spool, hashlib.sha256(raw).hexdigest(), raw)
        signal_payload: dict[str, Any] = {
            "message_id": message_id,
            "from": str(header.get("From", "")),
            "subject": str(header.get("Subject", "")),
            "text": body,
        }
        for mailbox in envelope.rcpt_tos:
            await self.client.start_workflow(
                WORKFLOW,
                id=PREFIX + workflow_id_for(mailbox.lower(), str(key)),
                task_queue=self.task_queue,
                start_signal="NEW_MESSAGE",
                start_signal_args=[signal_payload],
            )
        return "250 OK"


async def serve(port: int, target: str, task_queue: str, spool: Path) -> None:
    # mailroom's converter and the installation's key (MAILROOM_DATA_DIR of the environment
    # the bench gives it): bench.minimal's worker opens sealed payloads only.
    from orchestrator.bootstrap import data_converter
    from orchestrator.settings import Settings

    client = await Client.connect(target, data_converter=data_converter(Settings()))
    handler = BareHandler(client, task_queue, spool)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="bare", loop=loop), "127.0.0.1", port
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"smtp bare adapter on 127.0.0.1:{port} ready", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_adapter")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--spool", type=Path, required=True)
    args = parser.parse_args(argv)
    args.spool.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.port, args.target, args.task_queue, args.spool))
    return 0


if __name__ == "__main__":
    sys.exit(main())
