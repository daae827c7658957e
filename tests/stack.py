"""An in-process mailroom stack on a test's own task queue: worker + SMTP adapter."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.outbox import maildir_name
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import Wiring, bootstrap, gateway
from orchestrator.flow_spec import FlowSpec
from orchestrator.services import start_smtp, start_worker
from orchestrator.settings import Settings
from tests.encryption import give_test_key
from tests.support import free_port, plain_text, read_mail
from use_cases.mail import OutboxEntry
from use_cases.models import ThreadState


@dataclass
class Stack:
    wiring: Wiring
    gateway: TemporalThreadGateway
    smtp_port: int

    async def send(self, raw: bytes, to: Sequence[str], sender: str = "alice@example.com") -> Any:
        """Send over real SMTP from a thread: the adapter runs on this test's event loop."""
        return await asyncio.to_thread(send_mail, self.smtp_port, raw, to, sender)

    async def with_messages(self, workflow_id: str, count: int) -> ThreadState | None:
        """The thread once it holds `count` messages (for `wait_for`), else None."""
        state = await self.gateway.get(workflow_id)
        return state if state.message_count >= count else None

    def blob_address(self, data: bytes) -> str:
        """Where the installation's blob store keeps `data` (a keyed hash, not its sha256)."""
        blobs = self.wiring.blobs
        assert isinstance(blobs, FileBlobStore | PostgresBlobStore)
        return blobs.address_of(data)


def send_mail(port: int, raw: bytes, to: Sequence[str], sender: str) -> Any:
    # Lines end in <CR><LF> on the wire, as a mail client sends them (smtplib converts
    # only str mail): the fixtures end theirs in <LF>, which SMTP refuses (bare LF).
    wire = re.sub(rb"\r?\n", b"\r\n", raw)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        return smtp.sendmail(sender, list(to), wire)


def acknowledgements(stack: Stack) -> list[OutboxEntry]:
    """The thread's own receipts, not the flows' mail."""
    return [e for e in stack.wiring.outbox.entries() if e.message_id.startswith("<ack-")]


def sent_text(stack: Stack, message_id: str) -> str:
    """The text a recipient reads in the mail the outbox holds under `message_id`."""
    root = stack.wiring.outbox.root
    name = maildir_name(message_id)
    path = next(p for p in (root / "new" / name, root / "cur" / name) if p.exists())
    return plain_text(read_mail(path))


def stack_settings(data_dir: Path, client: Client, task_queue: str, **extra: Any) -> Settings:
    give_test_key(data_dir)  # the shared dev server's client and the CLI read with it too
    return Settings(
        data_dir=data_dir,
        temporal_address=client.service_client.config.target_host,
        temporal_namespace=client.namespace,
        task_queue=task_queue,
        queue_prefix=f"{task_queue}-",  # the test's flows on queues of their own
        smtp_port=free_port(),
        # acknowledged at once, as the tests that count acknowledgements expect; tests of
        # the delay pass their own (tests/workflows/test_acknowledgements.py)
        **{
            "mailboxes": ["support@mailroom.local", "procurement@mailroom.local"],
            "ack_delay": timedelta(0),
            **extra,
        },
    )


@asynccontextmanager
async def running_stack(
    client: Client,
    settings: Settings,
    *,
    worker: bool = True,
    served: Sequence[FlowSpec] | None = None,
    smtp_client: Client | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """`served`: the flows its worker serves (None: every registered flow)."""
    wiring = bootstrap(settings, **overrides)
    async with AsyncExitStack() as stack:
        if worker:
            await start_worker(wiring, client, stack, served)
        await start_smtp(wiring, smtp_client or client, stack)
        yield Stack(wiring, gateway(wiring, smtp_client or client), settings.smtp_port)
