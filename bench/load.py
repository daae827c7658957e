"""Load clients, run in their own process so their CPU is not in the measured processes.

    python -m bench.load smtp     --port P ...   C threads, each an smtplib connection
    python -m bench.load baseline --target T ... C asyncio tasks doing plain signal-with-start

Each records, per mail, the wall-clock time it was handed over and the time the server's
acknowledgement came back (SMTP: the 250 after DATA), and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import smtplib
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.mails import MAILBOX, ORDERS, Layout, thread_mail

MAX_ATTEMPTS = 1200
RETRY_PAUSE_SECONDS = 0.05  # a sending MTA waits minutes; a benchmark client cannot (60 s in all)
SMTP_TIMEOUT_SECONDS = 60


@dataclass
class LoadResult:
    started: float = 0.0
    finished: float = 0.0
    # message_id → [handed over, acknowledged, attempts]
    records: dict[str, list[float]] = field(default_factory=dict)
    deferred: int = 0
    failed: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0


class Schedule:
    """Hands out mail indexes in order; with a rate, mail i is not due before t0 + i/rate."""

    def __init__(self, mails: int, rate: float) -> None:
        self.indexes = iter(range(mails))
        self.rate = rate
        self.lock = threading.Lock()
        self.t0 = time.time()

    def next(self) -> tuple[int, float] | None:
        with self.lock:
            index = next(self.indexes, None)
        if index is None:
            return None
        due = self.t0 + index / self.rate if self.rate > 0 else 0.0
        return index, due


COUNTER_LOCK = threading.Lock()


def layout(args: argparse.Namespace) -> Layout:
    return Layout(args.mails, args.threads, args.order, args.mailbox)


def smtp_client(args: argparse.Namespace, schedule: Schedule, result: LoadResult) -> None:
    connection: smtplib.SMTP | None = None
    while (item := schedule.next()) is not None:
        index, due = item
        time.sleep(max(0.0, due - time.time()))
        mail = thread_mail(args.run, index, layout(args))
        sent, attempts = time.time(), 0
        while True:
            attempts += 1
            try:
                if connection is None:
                    connection = smtplib.SMTP("127.0.0.1", args.port, timeout=SMTP_TIMEOUT_SECONDS)
                connection.sendmail(mail.sender, [args.mailbox], mail.raw)
                result.records[mail.message_id] = [sent, time.time(), attempts]
                break
            except (smtplib.SMTPException, OSError) as exc:
                code = getattr(exc, "smtp_code", 0)
                if isinstance(code, int) and 400 <= code < 500:
                    with COUNTER_LOCK:
                        result.deferred += 1
                else:  # a dropped connection: reconnect, as an MTA would
                    connection = None
                if attempts >= MAX_ATTEMPTS:
                    result.failed.append(f"{mail.message_id}: {exc!r}")
                    break
                time.sleep(RETRY_PAUSE_SECONDS)
    if connection is not None:
        connection.quit()


def run_smtp(args: argparse.Namespace) -> LoadResult:
    result = LoadResult(started=time.time())
    schedule = Schedule(args.mails, args.rate)
    clients = [
        threading.Thread(target=smtp_client, args=(args, schedule, result))
        for _ in range(args.concurrency)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    result.finished = time.time()
    return result


Send = Callable[[int], Awaitable[str]]


async def run_async(args: argparse.Namespace, send: Send) -> LoadResult:
    result = LoadResult(started=time.time())
    schedule = Schedule(args.mails, args.rate)

    async def client() -> None:
        while (item := schedule.next()) is not None:
            index, due = item
            await asyncio.sleep(max(0.0, due - time.time()))
            sent = time.time()
            try:
                mid = await send(index)
            except Exception as exc:
                result.failed.append(f"{index}: {exc!r}")
                continue
            result.records[mid] = [sent, time.time(), 1]

    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    result.finished = time.time()
    return result


async def temporal_client(target: str) -> Any:
    from temporalio.client import Client

    from orchestrator.bootstrap import data_converter
    from orchestrator.settings import Settings

    # as mailroom's SMTP adapter connects: its converter, the installation's key
    return await Client.connect(target, data_converter=data_converter(Settings()))


async def baseline_sender(args: argparse.Namespace) -> Send:
    """Plain signal-with-start of the same NEW_MESSAGE payload to a minimal workflow."""
    from adapters.inbound.mime import parse_email
    from bench.minimal import AnswerWorkflow, AppendWorkflow
    from use_cases.ingest import to_new_message
    from use_cases.threading import thread_key

    client = await temporal_client(args.target)
    # The same NEW_MESSAGE payloads mailroom would send, built before the clock starts:
    # parsing is mailroom's cost, not the baseline's.
    prepared: dict[int, tuple[str, str, dict[str, Any]]] = {}
    for index in range(args.mails):
        mail = thread_mail(args.run, index, layout(args))
        email = parse_email(mail.raw)
        key = thread_key(email, mailbox=args.mailbox)
        message = to_new_message(email, key, datetime.now(UTC))
        payload = message.model_dump(mode="json")
        prepared[index] = (mail.message_id, f"bench-{key.workflow_id}", payload)

    run = AnswerWorkflow.run if args.workflow == "answer" else AppendWorkflow.run

    async def send(index: int) -> str:
        mid, workflow_id, payload = prepared[index]
        await client.start_workflow(
            run,
            id=workflow_id,
            task_queue=args.task_queue,
            start_signal="NEW_MESSAGE",
            start_signal_args=[payload],
        )
        return mid

    return send


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.load")
    p.add_argument("mode", choices=["smtp", "baseline"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--run", required=True, help="a run id that makes Message-IDs unique")
    p.add_argument("--mails", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--order", choices=ORDERS, default=ORDERS[0])
    p.add_argument("--mailbox", default=MAILBOX)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--rate", type=float, default=0.0, help="mails/s overall; 0 = flat out")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--target", default="")
    p.add_argument("--task-queue", default="")
    p.add_argument(
        "--workflow",
        choices=["append", "answer"],
        default="append",
        help="baseline: bench.minimal's workflow that only appends, or that answers too",
    )
    return p


async def run_baseline(args: argparse.Namespace) -> LoadResult:
    return await run_async(args, await baseline_sender(args))


def main() -> int:
    args = parser().parse_args()
    result = run_smtp(args) if args.mode == "smtp" else asyncio.run(run_baseline(args))
    result.cpu_seconds = time.process_time()
    args.out.write_text(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter finalization: the Temporal core runtime's threads can abort it
    # ("PyGILState_Release ... finalizing") after the results are safely written.
    os._exit(code)
