"""An IMAP source's metrics against a real Dovecot (issue 21): a poll sets the last-fetch
time and counts the mails fetched; a mail that can never be handed off counts as
quarantined; a refused login counts as a login error. The source is labelled by its name=."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from prometheus_client import CollectorRegistry

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from adapters.outbound.metrics import PrometheusMetrics
from orchestrator.services import IMAP_CHECKPOINTS
from tests.dovecot import Dovecot
from tests.fakes import FakeThreadGateway
from tests.integration.imap_support import MAILBOX, mail
from tests.support import wait_for
from use_cases.claim_check import PayloadTooLarge
from use_cases.ingest import ingest_email
from use_cases.models import Ingested

SOURCE = {"source": "imap-main"}


@asynccontextmanager
async def polling(
    url: str, tmp_path: Path, ingest: Callable[[bytes], Awaitable[Ingested]]
) -> AsyncIterator[CollectorRegistry]:
    registry = CollectorRegistry()
    adapter = ImapInbound(
        parse_source(url),
        ingest=ingest,
        checkpoints=SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS),
        backoff_initial=0.05,
        metrics=PrometheusMetrics(registry),
    )
    task = asyncio.create_task(adapter.run())
    try:
        yield registry
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def into(threads: FakeThreadGateway) -> Callable[[bytes], Awaitable[Ingested]]:
    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(raw, mailboxes=[MAILBOX], gateway=threads, parse=parse_email)

    return ingest


def sample(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_poll_sets_the_last_fetch_time_and_counts_the_mails_fetched(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    for subject in ("Printer on fire", "Invoice 42"):
        dovecot.append(mail(subject)[1])
    started = time.time()
    url = dovecot.url(mailbox=MAILBOX, start="all", name="imap-main", idle="off", poll="0.1")
    async with polling(url, tmp_path, into(FakeThreadGateway())) as registry:
        fetched = "mailroom_imap_mails_fetched_total"
        await wait_for(lambda: sample(registry, fetched, SOURCE) == 2.0, what="2 fetched")
        last = "mailroom_imap_last_fetch_timestamp_seconds"
        first = sample(registry, last, SOURCE)
        assert first is not None and first >= started
        # a poll that finds nothing new is a successful fetch too: the time moves on
        await wait_for(lambda: (sample(registry, last, SOURCE) or 0) > first, what="a new poll")
        assert sample(registry, fetched, SOURCE) == 2.0


async def test_a_mail_that_can_never_be_handed_off_counts_as_quarantined(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.append(mail("Far too big")[1])

    async def too_large(raw: bytes) -> Ingested:
        raise PayloadTooLarge("over the signal limit")

    url = dovecot.url(mailbox=MAILBOX, start="all", name="imap-main")
    async with polling(url, tmp_path, too_large) as registry:
        quarantined = "mailroom_imap_quarantined_total"
        await wait_for(lambda: sample(registry, quarantined, SOURCE) == 1.0, what="quarantined")


async def test_a_refused_login_counts_as_a_login_error(dovecot: Dovecot, tmp_path: Path) -> None:
    right = f":{quote(dovecot.password, safe='')}@"
    url = dovecot.url(mailbox=MAILBOX, name="imap-main").replace(right, ":wrong-password@")
    async with polling(url, tmp_path, into(FakeThreadGateway())) as registry:
        errors = {"source": "imap-main", "error": "login"}
        await wait_for(
            lambda: (sample(registry, "mailroom_imap_errors_total", errors) or 0) >= 1,
            what="a login error",
        )
        assert sample(registry, "mailroom_imap_last_fetch_timestamp_seconds", SOURCE) is None


async def test_a_folder_the_server_does_not_have_counts_as_a_fetch_error_not_a_connect_one(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """The connection and the login worked: the operator is to look at the folder's name,
    not at the network."""
    url = dovecot.url(folder="No-Such-Folder", mailbox=MAILBOX, name="imap-main")
    async with polling(url, tmp_path, into(FakeThreadGateway())) as registry:

        def errors(kind: str) -> float:
            labels = {"source": "imap-main", "error": kind}
            return sample(registry, "mailroom_imap_errors_total", labels) or 0

        await wait_for(lambda: errors("fetch") + errors("connect") >= 1, what="an error")
        assert errors("connect") == 0
        assert errors("fetch") >= 1
