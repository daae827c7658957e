"""The long-running parts — embedded server, worker, SMTP adapter — and their shutdown order."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace

import structlog
from temporalio.client import Client
from temporalio.service import RPCError

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_check import SourceReport, check_source
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_lane import ImapLane, imap_claim
from adapters.inbound.imap_source import masked_url, parse_source
from adapters.inbound.postgres_imap_checkpoint import PostgresCheckpointStore
from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_admission import (
    Admission,
    AdmissionLimits,
    ClientRate,
    RecipientLimits,
    connection_cap,
    parse_networks,
    raise_descriptor_limit,
    throttle_accept_errors,
)
from adapters.inbound.smtp_data import BareLf, Spool
from adapters.inbound.smtp_listener import serve_smtp
from adapters.inbound.smtp_security import Credentials, CredentialsError, server_tls_context
from adapters.inbound.smtp_session import SessionRules
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.blob_sweep import sweep_blobs_periodically
from adapters.outbound.disk_space import DiskSpace
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.temporal_backlog import HandoffBacklog
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import (
    Wiring,
    close_stores,
    connect,
    coordinator,
    coordinator_worker,
    gateway,
    handoff_backlog,
    thread_worker,
)
from orchestrator.codec import browser_endpoint, serve_codec
from orchestrator.flow_checks import unserved_flows
from orchestrator.flow_settings import flow_config
from orchestrator.flow_spec import FlowSpec
from orchestrator.flow_workers import start_flow_workers
from orchestrator.instance import forget_instance, record_instance
from orchestrator.intake_sources import declare_sources, smtp_taken, taking
from orchestrator.metrics import metrics_address, serve_metrics
from orchestrator.namespace_checks import check_search_attributes
from orchestrator.process_child import ChildLink
from orchestrator.process_group import ProcessGroup
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError, bind_error, warn_without_support_team
from orchestrator.temporal_server import EmbeddedTemporal
from use_cases.ingest import ingest_email
from use_cases.models import Ingested
from use_cases.ports import Backpressure

log = structlog.get_logger()

IMAP_CHECKPOINTS = "imap.sqlite"


def stop_requested() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def announce(part: str, where: str) -> None:
    print(f"{part:<10} {where}", flush=True)


async def start_server(wiring: Wiring, stack: AsyncExitStack) -> EmbeddedTemporal:
    server = EmbeddedTemporal(wiring.settings)
    server.check_ports()  # a busy port: its line alone, before the codec server announces
    codec = serve_codec(wiring.settings, stack, embedded=True)  # the Web UI decodes through it
    if codec is not None:
        server.codec_endpoint = browser_endpoint(codec, codec.access.token)
    await server.start()
    stack.push_async_callback(server.stop)  # runs last: callbacks unwind in reverse
    s = wiring.settings
    announce(
        "temporal",
        f"{s.temporal_target} (web UI http://127.0.0.1:{s.temporal_ui_port}"
        f"{'' if s.ui_write_actions else ' read-only'}, "
        f"metrics {server.metrics_url}, db {s.data_dir / 'temporal.db'})",
    )
    if codec is not None:  # never the token: it is in the settings or the data dir
        announce("codec", f"http://{codec.host}:{codec.port} (the Web UI decodes through it)")
    return server


def freeze_startup_heap() -> None:
    """Move what start-up allocated (modules, the SDK, pydantic schemas: ~80 MB) out of the
    garbage collector's sight. A full collection walks every tracked object; in the worker
    that was a ~95 ms pause every ~15 s under load, stalling every workflow task in flight
    (the p99 tail). These objects live as long as the process anyway."""
    gc.collect()
    gc.freeze()


async def start_worker(
    wiring: Wiring,
    client: Client,
    stack: AsyncExitStack,
    flows: Sequence[FlowSpec] | None = None,
) -> None:
    """The thread worker, and a worker per flow of `flows` (None: every registered flow) on
    the flow's own queue; then a warning for each registered flow no worker serves."""
    served = wiring.flows if flows is None else tuple(flows)
    if flow_config(wiring.settings).search_attributes:
        s = wiring.settings
        await check_search_attributes(client, s.temporal_namespace, register=s.embedded_temporal)
    workers = [thread_worker(wiring, client), coordinator_worker(wiring, client)]
    warn_without_support_team(wiring.settings.support_team)
    freeze_startup_heap()
    tasks = [asyncio.create_task(worker.run()) for worker in workers]

    async def drain() -> None:
        # each finishes its in-flight activities, up to the drain timeout
        await asyncio.gather(*(worker.shutdown() for worker in workers))
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(drain)
    announce(
        "worker", f"task queue {wiring.settings.task_queue} on {wiring.settings.temporal_target}"
    )
    await start_flow_workers(wiring, client, stack, served)
    prefix = wiring.settings.queue_prefix
    for spec in served:
        announce("flow", f"{spec.name} on task queue {spec.queue_for(prefix)}")
    await warn_unserved(wiring, client, {spec.queue_for(prefix) for spec in served})


async def warn_unserved(wiring: Wiring, client: Client, served: set[str]) -> None:
    """A registered flow no worker polls: its mail waits (nothing is lost) until one starts.
    Said at start; `mailroom flows` says it again whenever asked."""
    try:
        unserved = await unserved_flows(client, wiring.flows, wiring.settings, served)
    except RPCError as exc:  # an old server without DescribeTaskQueue: not worth stopping
        log.info("flow_pollers_unknown", error=str(exc))
        return
    for flow in unserved:
        log.warning("flow_not_served", flow=flow.name, task_queue=flow.task_queue)
        print(f"WARNING    {flow.warning}", file=sys.stderr, flush=True)


async def start_backlog(
    wiring: Wiring, client: Client, stack: AsyncExitStack
) -> HandoffBacklog | None:
    """One backlog watcher for the adapters of this process (None when switched off)."""
    backlog = handoff_backlog(wiring.settings, client)
    if backlog is None:
        return None
    task = asyncio.create_task(backlog.run(), name="backlog")

    async def stop_watching() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop_watching)
    return backlog


async def start_smtp(
    wiring: Wiring,
    client: Client,
    stack: AsyncExitStack,
    backlog: Backpressure | None = None,
    sockets: Sequence[socket.socket] = (),
) -> None:
    """The SMTP listener (and the submission one), on `sockets` when a parent process bound
    them (the SMTP port's, then the submission port's), else binding the configured ports."""
    thread_gateway = gateway(wiring, client, backlog)

    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        ingested = await ingest_email(
            raw,
            mailboxes=mailboxes,
            gateway=thread_gateway,
            parse=wiring.parse,
            envelope_from=mail_from,
            blobs=wiring.blobs,
            threading=wiring.threading,
            authenticate=wiring.authenticate,
        )
        smtp_taken(wiring.metrics, wiring.settings, mailboxes)
        return ingested

    s = wiring.settings
    admission, recipients, thread_rate = front_door(s)
    rules, tls_context = protocol_rules(s)
    handler = SmtpInboundHandler(
        wiring.mailboxes,
        ingest,
        max_in_flight=s.max_in_flight,
        backlog=backlog,
        backlog_hold_seconds=s.backlog_hold_seconds,
        recipient_limits=recipients,
        thread_rate=thread_rate,
        storage=disk_space(wiring),
        max_pending_bytes=s.smtp_max_pending_bytes,
        metrics=wiring.metrics,
    )
    try:
        listener = await serve_smtp(
            handler,
            host=s.smtp_host,
            port=s.smtp_port,
            max_message_bytes=s.max_message_bytes,
            admission=admission,
            timeout=s.smtp_timeout.total_seconds(),
            rules=rules,
            tls_context=tls_context,
            sock=sockets[0] if sockets else None,
        )
    except OSError as exc:  # taken since the start-up check: the other parts stop in order
        message = bind_error(s.smtp_host, s.smtp_port, exc)
        raise StartupError(message.format(setting="MAILROOM_SMTP")) from None
    stack.push_async_callback(listener.stop)
    accepting = ", ".join(sorted(s.mailboxes)) or "any mailbox @" + ",".join(s.domains)
    announce("smtp", f"{s.smtp_host}:{s.smtp_port} accepting {accepting}")
    if s.submission_port and tls_context is not None:
        submission_rules = replace(rules, credentials=submission_credentials(s))
        try:
            submission = await serve_smtp(
                handler,
                host=s.smtp_host,
                port=s.submission_port,
                max_message_bytes=s.max_message_bytes,
                admission=admission,  # one connection budget for both listeners
                timeout=s.smtp_timeout.total_seconds(),
                rules=submission_rules,
                tls_context=tls_context,
                submission=True,
                sock=sockets[1] if len(sockets) > 1 else None,
            )
        except OSError as exc:
            message = bind_error(s.smtp_host, s.submission_port, exc)
            raise StartupError(message.format(setting="MAILROOM_SUBMISSION_PORT")) from None
        stack.push_async_callback(submission.stop)
        announce("submission", f"{s.smtp_host}:{s.submission_port} STARTTLS, then AUTH")
    if not s.mailboxes:
        log.warning(
            "smtp_accepting_any_local_part",
            domains=s.domains,
            hint="list them in MAILROOM_MAILBOXES (MAILROOM_REQUIRE_MAILBOXES=true enforces it)",
        )


def protocol_rules(s: Settings) -> tuple[SessionRules, ssl.SSLContext | None]:
    """What every SMTP connection applies (smtp_session.py), and STARTTLS's context."""
    rules = SessionRules(
        spool=Spool(s.data_dir / "tmp", memory_bytes=s.smtp_spool_bytes),
        greet_pause_seconds=s.smtp_greet_pause_seconds,
        bare_lf=BareLf(s.smtp_bare_lf),
    )
    if s.smtp_tls_cert is None or s.smtp_tls_key is None:
        if s.smtp_host not in {"127.0.0.1", "::1", "localhost"}:
            log.warning(
                "smtp_without_starttls",
                host=s.smtp_host,
                hint="set MAILROOM_SMTP_TLS_CERT and MAILROOM_SMTP_TLS_KEY to offer STARTTLS",
            )
        return rules, None
    try:
        return rules, server_tls_context(s.smtp_tls_cert, s.smtp_tls_key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "unusable"
        raise StartupError(
            f"MAILROOM_SMTP_TLS_CERT/KEY: {s.smtp_tls_cert}, {s.smtp_tls_key}: {reason}"
        ) from None


def submission_credentials(s: Settings) -> Credentials:
    assert s.submission_users_file is not None  # settings: required with submission_port
    try:
        return Credentials.load(s.submission_users_file)
    except CredentialsError as exc:
        raise StartupError(f"MAILROOM_SUBMISSION_USERS_FILE: {exc}") from None


def front_door(s: Settings) -> tuple[Admission, RecipientLimits, ClientRate]:
    """The SMTP listener's limits from the settings. The soft descriptor limit is raised
    first, and the connection cap kept well below it (smtp_admission.connection_cap)."""
    descriptors = raise_descriptor_limit()
    cap = connection_cap(s.smtp_max_connections, descriptors)
    if cap < s.smtp_max_connections:
        log.warning(
            "smtp_connections_capped",
            configured=s.smtp_max_connections,
            cap=cap,
            descriptor_limit=descriptors,
        )
    limits = AdmissionLimits(
        max_connections=cap,
        max_per_client=s.smtp_max_connections_per_client,
        max_data_transfers=s.smtp_max_data_transfers,
        session_seconds=s.smtp_session_limit.total_seconds(),
        rate_exempt=parse_networks(s.smtp_rate_exceptions),
        ipv6_prefix=s.smtp_client_ipv6_prefix_length,
    )
    throttle_accept_errors(asyncio.get_running_loop())
    recipients = RecipientLimits(
        per_mail=s.smtp_max_recipients,
        mailboxes_per_mail=s.smtp_max_mailboxes_per_mail,
        per_connection=s.smtp_max_recipients_per_connection,
    )
    return Admission(limits), recipients, ClientRate(s.smtp_threads_per_client_per_minute, limits)


def imap_checkpoints(wiring: Wiring) -> SqliteCheckpointStore | PostgresCheckpointStore:
    """In the shared database when there is one (migrated by `bootstrap`): a source moved to
    another node resumes where the last one stopped."""
    if wiring.settings.database_url:
        return PostgresCheckpointStore(wiring.database or wiring.settings.database_url)
    return SqliteCheckpointStore(wiring.settings.data_dir / IMAP_CHECKPOINTS)


def imap_ingest(
    wiring: Wiring, thread_gateway: TemporalThreadGateway, mailbox: str
) -> Callable[[bytes], Awaitable[Ingested]]:
    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(
            raw,
            mailboxes=[mailbox],
            gateway=thread_gateway,
            parse=wiring.parse,
            blobs=wiring.blobs,
            threading=wiring.threading,
            authenticate=wiring.authenticate,
        )

    return ingest


async def start_imap(
    wiring: Wiring, client: Client, stack: AsyncExitStack, backlog: Backpressure | None = None
) -> list[ImapInbound]:
    """One task per IMAP source, polling while this daemon holds the source's lane; on
    stop they are cancelled (a clean logout, the lane let go) first."""
    thread_gateway = gateway(wiring, client, backlog)
    checkpoints = imap_checkpoints(wiring)
    adapters = []
    urls = wiring.settings.imap_sources
    for url in urls:
        source = parse_source(url)
        mailbox = source.mailbox or ""  # settings already checked it is one of ours
        ingest = taking(
            imap_ingest(wiring, thread_gateway, mailbox), wiring.metrics, source.source_name
        )
        quarantine = wiring.settings.imap_quarantine_folder
        adapters.append(
            ImapInbound(
                source,
                ingest=ingest,
                checkpoints=checkpoints,
                backlog=backlog,
                quarantine_folder=quarantine,
                storage=disk_space(wiring),
                max_message_bytes=wiring.settings.max_message_bytes,
                metrics=wiring.metrics,
            )
        )
    tasks = [
        asyncio.create_task(imap_run(wiring, client, a, url), name=f"imap {a.source.key}")
        for a, url in zip(adapters, urls, strict=True)
    ]

    async def stop_fetching() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(stop_fetching)
    for adapter in adapters:
        announce("imap", adapter.source.describe())
    return adapters


async def imap_run(wiring: Wiring, client: Client, adapter: ImapInbound, url: str) -> None:
    """The source's adapter, polling only while this daemon holds the lane
    `imap:<source>` (MAILROOM_IMAP_EXCLUSIVE), or all the time."""
    settings = wiring.settings
    if not settings.imap_exclusive:
        return await adapter.run()
    claim = imap_claim(
        adapter.source,
        masked_url(url),
        host=socket.gethostname(),
        pid=os.getpid(),
        lease_seconds=settings.imap_lease_seconds,
    )
    await ImapLane(adapter, coordinator(settings, client), claim).run()


async def check_imap(wiring: Wiring) -> list[SourceReport]:
    """Log in to every source (concurrently) and report what the adapter would find."""
    checkpoints = imap_checkpoints(wiring)
    sources = [parse_source(url) for url in wiring.settings.imap_sources]
    saved = [await asyncio.to_thread(checkpoints.load, s.key) for s in sources]
    reports = list(
        await asyncio.gather(
            *(asyncio.to_thread(check_source, s, c) for s, c in zip(sources, saved, strict=True))
        )
    )
    for report in reports:  # mail set aside by the adapter, for the operator to look at
        report.quarantine_folder = wiring.settings.imap_quarantine_folder
        report.quarantined = await asyncio.to_thread(checkpoints.quarantined, report.source.key)
        report.quarantined_count = await asyncio.to_thread(
            checkpoints.quarantined_count, report.source.key
        )
    return reports


async def until_stopped(
    stop: asyncio.Event, server: EmbeddedTemporal | None, group: ProcessGroup | None = None
) -> None:
    """Until SIGINT/SIGTERM; raises ServerError first if the embedded server dies, and
    GroupGaveUp if a child process of `group` crash-loops."""
    waits = [asyncio.create_task(stop.wait(), name="stop requested")]
    if server is not None:
        waits.append(asyncio.create_task(server.watch(), name="temporal server"))
    if group is not None:
        waits.append(asyncio.create_task(group.watch(), name="child processes"))
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # the server's ServerError, if it died


def disk_space(wiring: Wiring) -> DiskSpace:
    """The data directory's disk and, when set, MAILROOM_BLOB_DIR's: the fuller one counts."""
    settings = wiring.settings
    blob_dir = () if settings.blob_dir is None else (settings.blob_dir,)
    return DiskSpace(settings.data_dir, settings.disk_reserve_bytes, also=blob_dir)


def start_blob_sweep(wiring: Wiring, stack: AsyncExitStack) -> None:
    """At start and every hour: what crashes and failed writes left in the blob store."""
    if not isinstance(wiring.blobs, FileBlobStore | PostgresBlobStore):
        return
    sweep = sweep_blobs_periodically(wiring.blobs, wiring.settings.blob_grace)
    task = asyncio.create_task(sweep, name="blob sweep")

    async def stop_sweeping() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop_sweeping)


async def run_parts(
    wiring: Wiring,
    parts: set[str],
    *,
    record: bool = False,
    flows: Sequence[FlowSpec] | None = None,
    link: ChildLink | None = None,
    group: ProcessGroup | None = None,
) -> None:
    """Start the named parts, wait for SIGINT/SIGTERM, stop them in reverse order:
    the adapter stops accepting, the worker drains, the server goes last. With `record`,
    where they serve is written to the data directory while they run (the CLI reads it).
    `link`: this process is a child of a process group; `group`: the child processes this
    one runs besides its own parts, started after its worker and before its adapters (and
    stopped in reverse, so its adapters stop accepting first and the server outlives them)."""
    stop = stop_requested()
    if link is not None:
        link.watch_parent()
    server = None
    async with AsyncExitStack() as stack:
        stack.push_async_callback(close_stores, wiring)  # runs last
        if "server" in parts:
            server = await start_server(wiring, stack)
        # a group's child serves where its parent says (a port of its own), or not at all;
        # the default of `mailroom up` counts its children's roles among its parts
        every_part = parts | (group.role_names if group is not None else set())
        where = metrics_address(wiring.settings, every_part) if link is None else link.metrics
        wiring.metrics = serve_metrics(where, stack)
        declare_sources(wiring.metrics, wiring.settings, parts)
        if parts & {"worker", "smtp", "imap"}:
            # The adapters alone connect lazily: SMTP answers 451 and IMAP backs off until
            # Temporal is up.
            client = await connect(wiring.settings, lazy=parts <= {"smtp", "imap"})
            if "worker" in parts:
                await start_worker(wiring, client, stack, flows)
            if group is not None:  # before our adapters: SMTP's line, the last, means all serve
                await group.start(stack, stop)
            backlog = None
            if parts & {"smtp", "imap"}:
                backlog = await start_backlog(wiring, client, stack)
                if backlog is not None:
                    wiring.metrics.watch_backlog(backlog)
                start_blob_sweep(wiring, stack)
            if "smtp" in parts:
                await start_smtp(wiring, client, stack, backlog, link.sockets if link else ())
            if "imap" in parts:
                await start_imap(wiring, client, stack, backlog)
        elif group is not None:
            await group.start(stack, stop)
        if record:
            record_instance(wiring.settings, parts | (group.role_names if group else set()))
            stack.callback(forget_instance, wiring.settings)  # first thing on stopping
        log.info("mailroom_ready", parts=sorted(parts))
        if link is not None:
            link.ready()
        await until_stopped(stop, server, group)
        log.info("mailroom_stopping")
    log.info("mailroom_stopped")
