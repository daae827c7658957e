"""Helpers the IMAP integration tests (test_imap_*.py) share: test mail, wiring and waits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from temporalio.client import Client

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import bootstrap, gateway
from orchestrator.services import IMAP_CHECKPOINTS, start_imap, start_worker
from tests.conftest import ROOT
from tests.dovecot import Dovecot
from tests.encryption import give_test_key
from tests.fakes import FakeBackpressure, FakeThreadGateway
from tests.stack import stack_settings
from use_cases.ingest import ingest_email
from use_cases.models import Ingested
from use_cases.threading import thread_key

MAILBOX = "support@mailroom.local"
SEEN = b"\\Seen"


def mail(subject: str, *, in_reply_to: str | None = None) -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    reply = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    raw = (
        f"From: Alice <alice@customer.example>\r\nTo: {MAILBOX}\r\n"
        f"Subject: {subject}\r\nMessage-ID: {message_id}\r\n{reply}"
        f"Date: Mon, 04 Mar 2024 10:00:00 +0000\r\n\r\n{subject}: details inside.\r\n"
    )
    return message_id, raw.encode()


def thread_of(raw: bytes) -> str:
    return thread_key(parse_email(raw), mailbox=MAILBOX).workflow_id


async def message_ids(threads: TemporalThreadGateway, thread_id: str) -> list[str]:
    return list((await threads.get(thread_id)).message_ids)


async def flags(dovecot: Dovecot, folder: str = "INBOX") -> dict[bytes, tuple[bytes, ...]]:
    return await asyncio.to_thread(dovecot.flags, folder)


@asynccontextmanager
async def imap_stack(
    client: Client, data_dir: Path, task_queue: str, *urls: str
) -> AsyncIterator[tuple[TemporalThreadGateway, list[ImapInbound]]]:
    """A worker on the test's queue and the IMAP adapters, wired as `mailroom up` does."""
    wiring = bootstrap(stack_settings(data_dir, client, task_queue, imap_sources=list(urls)))
    async with AsyncExitStack() as stack:
        await start_worker(wiring, client, stack)
        adapters = await start_imap(wiring, client, stack)
        yield gateway(wiring, client), adapters


def cli_env(temporal: str, task_queue: str, data_dir: Path, *urls: str) -> dict[str, str]:
    give_test_key(data_dir)  # `mailroom imap` seals with the key the test's stack opens with
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_CONFIG": str(data_dir / "no-such-mailroom.toml"),
        "MAILROOM_DATA_DIR": str(data_dir),
        "MAILROOM_TEMPORAL_ADDRESS": temporal,
        "MAILROOM_TASK_QUEUE": task_queue,
        "MAILROOM_QUEUE_PREFIX": f"{task_queue}-",
        "MAILROOM_MAILBOXES": f"{MAILBOX},procurement@mailroom.local",
        "MAILROOM_IMAP_SOURCES": ",".join(urls),
        # a daemon killed holds its sources' lanes this long: the next one waits it out
        "MAILROOM_IMAP_LEASE_SECONDS": "3",
    }


def daemon_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`mailroom imap` in a process of its own, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "imap"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def append_all(dovecot: Dovecot, raws: list[bytes]) -> None:
    with dovecot.client() as client:
        for raw in raws:
            client.append("INBOX", raw)


async def holds(threads: TemporalThreadGateway, thread_id: str, expected: list[str]) -> bool:
    return await message_ids(threads, thread_id) == expected


async def equal(found: Awaitable[list[str]], expected: list[str]) -> bool:
    return await found == expected


async def all_have(found: Awaitable[dict[bytes, tuple[bytes, ...]]], flag: bytes, n: int) -> bool:
    return sum(flag in f for f in (await found).values()) == n


def lone_adapter(
    dovecot: Dovecot,
    tmp_path: Path,
    threads: FakeThreadGateway,
    backlog: FakeBackpressure | None = None,
    **params: str,
) -> ImapInbound:
    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(raw, mailboxes=[MAILBOX], gateway=threads, parse=parse_email)

    source = parse_source(dovecot.url(mailbox=MAILBOX, **params))
    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    return ImapInbound(
        source, ingest=ingest, checkpoints=checkpoints, backoff_initial=0.05, backlog=backlog
    )
