"""Composition root: the only place that names concrete classes."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jinja2 import TemplateError
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.worker import Worker

from activities.coordinator import CoordinatorActivities
from activities.email import EmailActivities
from activities.flow_settings import FlowSettingsActivities
from activities.routing import RoutingActivities
from activities.signals import SignalActivities
from adapters.agents.openai_compat import OpenAICompatibleAgent
from adapters.agents.rules import Article, RuleBasedAgent, load_knowledge_base
from adapters.inbound.authentication import TrustedAuthenticationResults
from adapters.inbound.parse_pool import ParsePool
from adapters.outbound.auto_reply_log import SqliteAutoReplyLog
from adapters.outbound.blob_store import FileBlobStore
from adapters.outbound.key_ring import KeyRing
from adapters.outbound.mail_templates import ReplyTemplates
from adapters.outbound.outbox import MaildirOutbox
from adapters.outbound.payload_codec import EncryptionCodec
from adapters.outbound.postgres_auto_reply_log import PostgresAutoReplyLog
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.postgres_pool import Database
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.sharded_coordinator import ShardedCoordinator
from adapters.outbound.smtp_sender import MessageLog, SmtpRelaySender
from adapters.outbound.temporal_backlog import HandoffBacklog, pending_task_age
from adapters.outbound.temporal_coordinator import TemporalCoordinator
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from adapters.outbound.temporal_signals import TemporalWorkflowSignals
from adapters.outbound.thread_index import SqliteThreadIndex
from orchestrator.data_converter import DATA_CONVERTER
from orchestrator.encryption_keys import key_ring
from orchestrator.flow_settings import flow_config
from orchestrator.flow_spec import FlowSpec
from orchestrator.flows import FLOWS
from orchestrator.key_file import shared_key
from orchestrator.settings import Settings, describe_flow_error, parse_host_port
from orchestrator.startup_checks import (
    StartupError,
    check_blob_dir,
    check_data_dir,
    check_database_blob_size,
    reason,
)
from orchestrator.stores import Ledger, blob_store, database_key, stores
from orchestrator.temporal_tls import connect_failure, tls_config
from orchestrator.tracing import client_interceptors
from orchestrator.workflow_runner import WORKFLOW_INTERCEPTORS, WORKFLOW_RUNNER
from use_cases.coordinator import COORDINATOR_QUEUE
from use_cases.flow_catalogue import FlowCatalogue
from use_cases.flows import FlowConfig
from use_cases.invoices import InvoiceBook
from use_cases.lanes import CoordinatorInput, coordinator_id
from use_cases.mailboxes import Mailboxes
from use_cases.ports import (
    Agent,
    Backpressure,
    BlobStore,
    EmailParser,
    EmailSender,
    NoMetrics,
    ProcessMetrics,
    SenderAuthentication,
)
from use_cases.reply_cap import AutomaticMailCaps
from use_cases.threading import Threading
from workflows.coordinator import CoordinatorWorkflow
from workflows.thread import ThreadWorkflow

WORKER_DRAIN_TIMEOUT = timedelta(seconds=15)


class TemporalUnreachable(RuntimeError):
    pass


@dataclass
class Wiring:
    settings: Settings
    mailboxes: Mailboxes
    outbox: MaildirOutbox
    sender: EmailSender
    parse: EmailParser
    agent: Agent
    ledger: Ledger
    invoice_book: InvoiceBook
    blobs: BlobStore
    threading: Threading
    auto_replies: SqliteAutoReplyLog | PostgresAutoReplyLog
    authenticate: SenderAuthentication | None = None
    database: Database | None = None  # the process's PostgreSQL pool (MAILROOM_DATABASE_URL)
    sent_log: MessageLog | None = None  # what the relay took (`mailroom outbox` lists it)
    flows: tuple[FlowSpec, ...] = FLOWS  # the registry (tests add flows of their own)
    # what flows are given instead of the settings' FlowConfig (workflow tests)
    flow_config: FlowConfig | None = None
    # what the intake adapters count (orchestrator/metrics.py sets it where metrics are on)
    metrics: ProcessMetrics = field(default_factory=NoMetrics)


def bootstrap(settings: Settings, **overrides: Any) -> Wiring:
    check_data_dir(settings.data_dir)
    check_blob_dir(settings.blob_dir)
    check_database_blob_size(
        settings.max_message_bytes,
        blobs_in_database=bool(settings.database_url) and settings.blob_dir is None,
    )
    templates = reply_templates(settings)
    shared = stores(settings)
    outbox = MaildirOutbox(settings.data_dir / "outbox", templates)
    sender: EmailSender = outbox
    if settings.outbound_smtp:
        host, port = parse_host_port(settings.outbound_smtp)
        sender = SmtpRelaySender(host, port, shared.sent_log, templates)
    wiring = Wiring(
        settings=settings,
        mailboxes=Mailboxes(settings.domains, settings.mailboxes, settings.postmaster),
        outbox=outbox,
        sender=sender,
        parse=ParsePool(workers=settings.parse_workers, cpu_seconds=settings.parse_cpu_seconds),
        agent=make_agent(settings),
        ledger=shared.ledger,
        invoice_book=shared.invoice_book,
        blobs=blob_store(settings, shared.database),
        threading=Threading(
            index=shared.thread_index,
            secret=reply_token_key(settings),
            subject_window=settings.subject_window,
            mailboxes=Mailboxes(settings.domains, settings.mailboxes, settings.postmaster),
        ),
        auto_replies=shared.auto_replies,
        database=shared.database,
        sent_log=shared.sent_log,
        authenticate=TrustedAuthenticationResults(settings.trusted_authserv_id)
        if settings.trusted_authserv_id
        else None,
    )
    for name, value in overrides.items():
        setattr(wiring, name, value)
    return wiring


def reply_templates(settings: Settings) -> ReplyTemplates:
    """The mail templates, loaded (and checked) before anything starts."""
    try:
        return ReplyTemplates(settings.templates_dir)
    except (TemplateError, ValueError, OSError) as exc:
        raise StartupError(f"MAILROOM_TEMPLATES_DIR: {exc}") from None


async def close_stores(wiring: Wiring) -> None:
    """Close the stores that keep a connection open and stop the parse workers (after every
    part has stopped)."""
    if isinstance(wiring.parse, ParsePool):
        await wiring.parse.close()
    await wiring.auto_replies.close()
    if isinstance(wiring.threading.index, SqliteThreadIndex | PostgresThreadIndex):
        await wiring.threading.index.close()
    if isinstance(wiring.blobs, FileBlobStore | PostgresBlobStore):
        await wiring.blobs.close()
    if wiring.database is not None:  # last: the stores above may use it while closing
        await wiring.database.close()


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    try:
        return await Client.connect(
            settings.temporal_target,
            namespace=settings.temporal_namespace,
            api_key=settings.temporal_api_key.get_secret_value()
            if settings.temporal_api_key
            else None,
            tls=tls_config(settings),
            data_converter=data_converter(settings),
            interceptors=client_interceptors(),  # tracing, when on (its workers inherit it)
            lazy=lazy,
        )
    except RuntimeError as exc:
        why = connect_failure(settings, str(exc))
        if why:
            raise TemporalUnreachable(
                f"cannot connect to Temporal at {settings.temporal_target}: {why}"
            ) from exc
        hint = "start it with `mailroom up`" if settings.embedded_temporal else "is it running?"
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_target}: {hint}"
        ) from exc


def data_converter(settings: Settings) -> DataConverter:
    """The converter of every client mailroom opens, and so of its workers (they inherit
    it): payloads sealed by the installation's key ring, and failures' messages and stack
    traces moved into a payload so that the codec seals them too (an error's text may quote
    mail). Plain payloads (written before encryption was on, or forged by a caller without
    the key) are refused unless MAILROOM_ACCEPT_PLAINTEXT_PAYLOADS (payload_codec.py)."""
    return sealing_converter(
        key_ring(settings), accept_plaintext=settings.accept_plaintext_payloads
    )


def sealing_converter(ring: KeyRing, *, accept_plaintext: bool = False) -> DataConverter:
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=EncryptionCodec(ring, accept_plaintext=accept_plaintext),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def gateway(
    wiring: Wiring, client: Client, backlog: Backpressure | None = None
) -> TemporalThreadGateway:
    return TemporalThreadGateway(
        client,
        task_queue=wiring.settings.task_queue,
        messages_per_run=wiring.settings.messages_per_run,
        flow_config=flow_config(wiring.settings),
        history_format=wiring.settings.history_format,
        backlog=backlog,
        metrics=wiring.metrics,
    )


def handoff_backlog(settings: Settings, client: Client) -> HandoffBacklog | None:
    """The adapters' back-pressure on the accepted-but-not-applied backlog (None: off)."""
    if not settings.max_backlog_seconds:
        return None
    limit = timedelta(seconds=settings.max_backlog_seconds)
    return HandoffBacklog(pending_task_age(client), limit=limit)


def thread_worker(wiring: Wiring, client: Client) -> Worker:
    """Thread workflows on `MAILROOM_TASK_QUEUE`. It also holds every flow's activities:
    an inline flow runs in the thread's workflow, and its local activities (an in-process
    agent) run where the workflow runs; its other activities go to its own queue."""
    flow_activities = [a for spec in wiring.flows for a in spec.activities(wiring, client)]
    log_key_errors(client)
    return Worker(
        client,
        task_queue=wiring.settings.task_queue,
        workflows=[ThreadWorkflow],
        activities=with_each_once(
            [*worker_activities(wiring, client), routing_activity(wiring), *flow_activities]
        ),
        graceful_shutdown_timeout=WORKER_DRAIN_TIMEOUT,
        max_cached_workflows=wiring.settings.max_cached_workflows,
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=WORKFLOW_INTERCEPTORS,
    )


def log_key_errors(client: Client) -> None:
    """A worker's tasks fail on a payload its keys cannot open, retried by the server and
    logged by the SDK with a traceback each: its codec says once per key which is missing."""
    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec):
        codec.log_key_errors = True


def with_each_once(activities: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """Each activity once (two flows may share one, e.g. an agent's)."""
    named: dict[str, Callable[..., Any]] = {}
    for activity in activities:
        defn = getattr(activity, "__temporal_activity_definition", None)
        named.setdefault(defn.name if defn else repr(activity), activity)
    return list(named.values())


def flow_catalogue(wiring: Wiring) -> FlowCatalogue:
    """The registry as the thread's routing sees it, with this worker's settings (modes,
    queue prefix)."""
    modes = (wiring.flow_config or flow_config(wiring.settings)).modes
    prefix = wiring.settings.queue_prefix
    return FlowCatalogue(
        flows=tuple(spec.entry(modes.get(spec.name), prefix) for spec in wiring.flows)
    )


def flows_settings(wiring: Wiring) -> FlowSettingsActivities:
    """This worker's settings of each flow it runs (its config and MAILROOM_<FLOW>_* ones)."""
    own = {spec.name: flow_own_settings(spec) for spec in wiring.flows}
    return FlowSettingsActivities(wiring.flow_config or flow_config(wiring.settings), own)


def flow_settings_activity(wiring: Wiring) -> Callable[..., Any]:
    return flows_settings(wiring).settings_of


def flow_own_settings(spec: FlowSpec) -> dict[str, Any]:
    """A flow's MAILROOM_<FLOW>_* settings, read now; a bad value stops the start-up."""
    try:
        return spec.read_settings().model_dump(mode="json")
    except ValidationError as exc:
        raise StartupError(describe_flow_error(spec.name, exc)) from None


def routing_activity(wiring: Wiring) -> Callable[..., Any]:
    """The route, with this worker's settings of the inline flow it picks (the thread runs
    that flow here: history format 3)."""
    settings_of = flows_settings(wiring).of
    return RoutingActivities(wiring.agent, flow_catalogue(wiring), settings_of).route


def make_agent(settings: Settings) -> Agent:
    articles = knowledge_base(settings)
    if settings.agent_url:
        key = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
        return OpenAICompatibleAgent(
            settings.agent_url,
            settings.agent_model,
            key,
            timeout=settings.agent_timeout.total_seconds(),
            articles=articles,
        )
    return RuleBasedAgent(articles)


def knowledge_base(settings: Settings) -> list[Article]:
    """The support articles: MAILROOM_KB_FILE, or the shipped example."""
    if settings.kb_file is None:
        return load_knowledge_base()
    path = settings.kb_file
    try:
        articles = load_knowledge_base(path)
    except OSError as exc:
        raise StartupError(f"MAILROOM_KB_FILE: cannot read {path}: {reason(exc)}") from None
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise StartupError(f"MAILROOM_KB_FILE: {path} is not a knowledge base: {first}") from None
    return articles


def worker_activities(wiring: Wiring, client: Client) -> list[Callable[..., Any]]:
    """What every worker serves: sending mail, a child flow's reports to its thread, and
    the flows' settings as this worker read them."""
    return [flow_settings_activity(wiring), *every_flow_activities(wiring, client)]


def every_flow_activities(wiring: Wiring, client: Client) -> list[Callable[..., Any]]:
    """What every worker serves besides its flows' own: sending mail (`send_email`) and a
    child flow's progress to its thread (`report_to_thread`), a thread's mail to its child
    (`forward_to_flow`)."""
    email = EmailActivities(
        wiring.sender,
        wiring.auto_replies,
        AutomaticMailCaps(
            per_address=wiring.settings.auto_replies_per_hour,
            per_domain=wiring.settings.auto_replies_per_domain_per_hour,
            total=wiring.settings.auto_replies_total_per_hour,
        ),
        decision_key=wiring.threading.secret,
        thread_index=wiring.threading.index,
    )
    signals = SignalActivities(TemporalWorkflowSignals(client))
    to_coordinator = CoordinatorActivities(coordinator(wiring.settings, client))
    return [
        email.send_email,
        signals.report_to_thread,
        signals.forward_to_flow,
        to_coordinator.coordinator_signal,
    ]


def coordinator(settings: Settings, client: Client) -> TemporalCoordinator | ShardedCoordinator:
    """The installation's coordinator (issue 18): its id and queue under the queue prefix;
    with MAILROOM_COORDINATOR_SHARDS > 1, that many, each granting the lanes hashed to it."""
    prefix = settings.queue_prefix
    one = TemporalCoordinator(
        client,
        f"{prefix}{COORDINATOR_QUEUE}",
        workflow_id=coordinator_id(prefix),
        start_input=CoordinatorInput(
            idle_timeout_seconds=settings.coordinator_idle_minutes * 60,
            continue_as_new_after_events=settings.coordinator_events_per_run,
        ),
    )
    if settings.coordinator_shards == 1:
        return one
    return ShardedCoordinator.over(one, settings.coordinator_shards)


def coordinator_worker(wiring: Wiring, client: Client) -> Worker:
    """Every worker process serves the coordinator's queue: one run is open at a time,
    on whichever worker took its task."""
    log_key_errors(client)
    return Worker(
        client,
        task_queue=f"{wiring.settings.queue_prefix}{COORDINATOR_QUEUE}",
        workflows=[CoordinatorWorkflow],
        graceful_shutdown_timeout=WORKER_DRAIN_TIMEOUT,
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=WORKFLOW_INTERCEPTORS,
    )


REPLY_TOKEN_KEY_FILE = "reply-token.key"
REPLY_TOKEN_KEY_NAME = "reply-token"


def reply_token_key(settings: Settings) -> bytes:
    """MAILROOM_REPLY_TOKEN_SECRET, else a random key made once and kept in the shared
    database (MAILROOM_DATABASE_URL, migrated by `stores` before) or else in the data dir
    (every process of one installation must sign and check tokens with the same key)."""
    if settings.reply_token_secret is not None and settings.reply_token_secret.get_secret_value():
        return settings.reply_token_secret.get_secret_value().encode()
    if settings.database_url:
        return database_key(settings.database_url, REPLY_TOKEN_KEY_NAME)
    return shared_key(settings.data_dir / REPLY_TOKEN_KEY_FILE)  # made atomically
