"""The bare SMTP adapter: the least any adapter on mailroom's components does for a mail, as a
process of its own, so `bench.ingest` can set the CPU mailroom's adapter spends against it,
measured in the same run (the adapter's CPU baseline, issue 19).

    python -m bench.bare_adapter --port P --target HOST:PORT --task-queue Q --spool DIR

For each mail: aiosmtpd receives it (the SMTP dialogue; plain MAIL/RCPT paths read without
the email package's parser, as mailroom's listener reads them), its header is read by the
standard library (`compat32`, header only: Message-ID, References, In-Reply-To, From,
Subject), its raw bytes are made durable (written, fsynced, renamed, the directory fsynced;
the mails that arrive meanwhile go in the same trip to the writer thread with one directory
fsync, as mailroom's blob store groups them), and the Temporal SDK signals-with-starts the
thread, keyed by the References rule as mailroom keys it, with the mail's fields and body as
the signal (mailroom's converter, sealed as mailroom's are) to bench.minimal's appending
workflow; then `250`. Nothing else: no admission, no back-pressure, no thread index, no
parsing of the body or the addresses, no classification, no blob references, no thread input
or Web UI summary in the start, no logs or metrics — none of what mailroom adds for hostile
mail, erasure, threading by index and operators. It is not a mail service: it is a plain
adapter on mailroom's components, the least `mailroom smtp` could spend.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import Client

from adapters.inbound.smtp_paths import PlainPathSMTP
from adapters.outbound.durable_files import sync_directory, write_atomically
from adapters.outbound.group_commit import GroupCommit
from bench.minimal import AppendWorkflow
from orchestrator.bootstrap import data_converter
from orchestrator.settings import Settings
from use_cases.threading import workflow_id_for

PREFIX = "bare-"


def durable_group(spool: Path, mails: Sequence[tuple[str, bytes]]) -> list[None]:
    """Each (name, raw) in `spool`, on disk and named once this returns: the files written
    and fsynced, then the directory fsynced once for them all."""
    for name, raw in mails:
        write_atomically(spool / name, raw, sync_parent=False)
    sync_directory(spool)
    return [None] * len(mails)


class BareHandler:
    def __init__(self, client: Client, task_queue: str, spool: Path) -> None:
        self.client = client
        self.task_queue = task_queue
        self.headers = BytesHeaderParser(policy=compat32)
        self.writes: GroupCommit[tuple[str, bytes], None] = GroupCommit(
            ThreadPoolExecutor(max_workers=1), lambda mails: durable_group(spool, mails)
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        header = self.headers.parsebytes(raw)
        message_id = str(header.get("Message-ID", "")).strip()
        references = str(header.get("References", "")).split()
        key = references[0] if references else str(header.get("In-Reply-To") or message_id)
        body = raw.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")
        await self.writes.submit((hashlib.sha256(raw).hexdigest(), raw))
        signal_payload = {
            "message_id": message_id,
            "from": str(header.get("From", "")),
            "subject": str(header.get("Subject", "")),
            "text": body,
        }
        for mailbox in envelope.rcpt_tos:
            await self.client.start_workflow(
                AppendWorkflow.run,
                id=PREFIX + workflow_id_for(mailbox.lower(), key.strip()),
                task_queue=self.task_queue,
                start_signal="NEW_MESSAGE",
                start_signal_args=[signal_payload],
            )
        return "250 OK"


async def serve(port: int, target: str, task_queue: str, spool: Path) -> None:
    # mailroom's converter and the installation's key (MAILROOM_DATA_DIR of the environment
    # the bench gives it): bench.minimal's worker opens sealed payloads only.
    client = await Client.connect(target, data_converter=data_converter(Settings()))
    handler = BareHandler(client, task_queue, spool)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: PlainPathSMTP(handler, hostname="bare", loop=loop), "127.0.0.1", port
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
