"""`mailroom status`: what an operator looks at first, gathered from where the command runs
with the client settings of every other command — the pollers on each task queue (as
`mailroom doctor` sees them, with each queue's backlog), the SMTP adapter greeting, each IMAP
source's last error-free read (from its checkpoint store), the thread counts from Temporal's
visibility, and the most recent workflow that failed, timed out or was terminated."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import PoolTimeout
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueResponse,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.concurrently import every, first_failure_group
from adapters.inbound.imap import IDLE_RENEW_SECONDS
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import ImapSource, parse_source
from adapters.inbound.postgres_imap_checkpoint import PostgresCheckpointStore
from adapters.outbound.postgres_pool import Database
from orchestrator.bootstrap import connect
from orchestrator.cli_errors import CliError
from orchestrator.doctor import flow_poller_check, smtp_check
from orchestrator.flow_checks import FlowRow, QueuePollers, describe_queue, flow_modes
from orchestrator.flow_settings import flow_config
from orchestrator.flow_spec import FlowSpec
from orchestrator.services import IMAP_CHECKPOINTS
from orchestrator.settings import Settings
from orchestrator.settings_checks import masked_url
from orchestrator.status_threads import last_error, thread_counts
from orchestrator.status_view import BacklogStatus, QueueStatus, SourceStatus, Status
from use_cases.coordinator import COORDINATOR_QUEUE

# A source is late when not read for this many of its waits between reads (its poll
# interval, or the IDLE renewal for a source that IDLEs), and never sooner than this.
LATE_AFTER_WAITS = 3
LATE_AFTER_AT_LEAST_SECONDS = 600.0
# A worker polls each queue again at least every minute (the server's long-poll timeout;
# an idle worker's last poll was at most 60 s old, sampled every 10 s for 190 s on the dev
# server) while it has a free slot; one not seen for this long has stopped. Temporal itself
# lists a stopped worker's pollers for 5 minutes.
POLLED_WITHIN = timedelta(seconds=150)
# The backlog bound when MAILROOM_MAX_BACKLOG_SECONDS is 0 (no back-pressure).
BACKLOG_BOUND_WHEN_OFF_SECONDS = 60.0
WORKER_FIX = "start a worker (`mailroom worker`)"

Load = tuple[DescribeTaskQueueResponse, DescribeTaskQueueResponse]  # workflow, activity


async def gather_status(settings: Settings, flows: Sequence[FlowSpec]) -> Status:
    """Raise TemporalUnreachable (or CliError, for TLS or a missing namespace) when Temporal
    cannot be asked: without it there is nothing to show."""
    client = await connect(settings)
    thread_queue = settings.task_queue
    flow_queues = [f.queue_for(settings.queue_prefix) for f in flows]
    coordinator = f"{settings.queue_prefix}{COORDINATOR_QUEUE}"
    threads_load, coordinator_load, *flow_loads = await described(
        client, settings, [thread_queue, coordinator, *flow_queues]
    )
    search_attributes = bool(flow_config(settings).search_attributes)
    async with first_failure_group() as group:
        counting = group.create_task(thread_counts(client, thread_queue, stages=search_attributes))
        erring = group.create_task(last_error(client, [thread_queue, *flow_queues]))
        checking_smtp = group.create_task(
            smtp_check(settings.smtp_host, settings.smtp_port, settings.smtp_greet_pause_seconds)
        )
    counts, error, smtp = counting.result(), erring.result(), checking_smtp.result()
    return Status(
        temporal=settings.temporal_target,
        namespace=settings.temporal_namespace,
        queues=[
            worker_queue(thread_queue, "threads", threads_load),
            worker_queue(coordinator, "coordinator", coordinator_load),
            *flow_queue_statuses(flows, settings, flow_loads),
        ],
        smtp=f"{settings.smtp_host}:{settings.smtp_port}",
        smtp_listening=smtp.ok,
        backlog=backlog_status(thread_queue, threads_load[0], settings),
        threads=counts,
        sources=await source_statuses(settings),
        last_error=error,
    )


async def described(client: Client, settings: Settings, queues: Sequence[str]) -> list[Load]:
    try:
        return await every(describe_queue(client, q, stats=True) for q in queues)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(
                f"namespace {settings.temporal_namespace} does not exist on "
                f"{settings.temporal_target}: set MAILROOM_TEMPORAL_NAMESPACE"
            ) from None
        raise


def pollers(queue: str, load: Load, now: datetime | None = None) -> QueuePollers:
    """The pollers seen lately: Temporal lists a stopped worker for minutes, but a running
    one polls again at least every long-poll interval."""
    since = (now or datetime.now(UTC)) - POLLED_WITHIN
    workflow, activity = (
        sum(1 for p in response.pollers if p.last_access_time.ToDatetime(UTC) >= since)
        for response in load
    )
    return QueuePollers(queue, workflow, activity)


def worker_queue(queue: str, role: str, load: Load) -> QueueStatus:
    """The thread and coordinator queues: every `mailroom worker` polls both."""
    seen = pollers(queue, load)
    served = seen.workflow_pollers > 0
    return QueueStatus(
        queue, role, seen.workflow_pollers, seen.activity_pollers, served, WORKER_FIX
    )


def flow_queue_statuses(
    flows: Sequence[FlowSpec], settings: Settings, loads: Sequence[Load]
) -> list[QueueStatus]:
    """Each flow's queue, judged as `mailroom doctor` and `mailroom flows` judge it."""
    modes = flow_modes(flows, settings)
    statuses = []
    for flow, load in zip(flows, loads, strict=True):
        seen = pollers(flow.queue_for(settings.queue_prefix), load)
        check = flow_poller_check(FlowRow(flow.name, modes[flow.name], flow.threaded, seen))
        statuses.append(
            QueueStatus(
                seen.task_queue,
                flow.name,
                seen.workflow_pollers,
                seen.activity_pollers,
                check.ok,
                check.fix,
            )
        )
    return statuses


def backlog_status(
    queue: str, workflow: DescribeTaskQueueResponse, settings: Settings
) -> BacklogStatus:
    """The thread queue's waiting workflow tasks: mail signalled to a thread that no worker
    has applied yet (Temporal leaves out a sticky queue's tasks, which live a few seconds:
    an old backlog is counted)."""
    stats = workflow.stats
    bound = settings.max_backlog_seconds or BACKLOG_BOUND_WHEN_OFF_SECONDS
    age = stats.approximate_backlog_age.ToTimedelta().total_seconds()
    return BacklogStatus(queue, int(stats.approximate_backlog_count), age, bound)


async def source_statuses(settings: Settings) -> list[SourceStatus]:
    """Each IMAP source's last error-free read, from where its daemon records it: the
    shared database, or this machine's data directory."""
    sources = [parse_source(url) for url in settings.imap_sources]
    if not sources:
        return []
    if not settings.database_url:
        local = SqliteCheckpointStore(settings.data_dir / IMAP_CHECKPOINTS)
        fetched = await asyncio.to_thread(lambda: [local.last_fetched(s.key) for s in sources])
        return [source_status(s, at) for s, at in zip(sources, fetched, strict=True)]
    database = Database(settings.database_url, max_size=1)
    try:
        shared = PostgresCheckpointStore(database)
        fetched = await asyncio.to_thread(lambda: [shared.last_fetched(s.key) for s in sources])
    except (psycopg.Error, PoolTimeout) as exc:
        shown = masked_url(settings.database_url)
        raise CliError(
            f"MAILROOM_DATABASE_URL: cannot read the IMAP checkpoints in {shown}: {first_line(exc)}"
        ) from None
    finally:
        await database.close()
    return [source_status(s, at) for s, at in zip(sources, fetched, strict=True)]


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def source_status(source: ImapSource, fetched: datetime | None) -> SourceStatus:
    wait = IDLE_RENEW_SECONDS if source.idle else source.poll_seconds
    late_after = max(LATE_AFTER_WAITS * wait, LATE_AFTER_AT_LEAST_SECONDS)
    fetched = fetched.astimezone(UTC) if fetched else None
    return SourceStatus(source.key, source.mailbox or "?", fetched, late_after)
