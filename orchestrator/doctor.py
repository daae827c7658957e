"""`mailroom doctor`: what an installation needs, checked one by one from where the command
runs — Temporal reached (and how: TLS or not), the namespace, the thread search attributes,
a worker polling every task queue, the SMTP adapter listening, the shared database reached and
migrated (with MAILROOM_DATABASE_URL) — each `ok` or `fail` with
the fix. It never raises for a failed check: a doctor that stops at the first problem
hides the others."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.outbound.postgres import MIGRATIONS, DatabaseUnavailable, schema_version
from orchestrator.bootstrap import TemporalUnreachable, connect
from orchestrator.cli_errors import CliError
from orchestrator.flow_checks import FlowRow, flow_rows, queue_pollers
from orchestrator.flow_settings import flow_config
from orchestrator.flow_spec import FlowSpec
from orchestrator.namespace_checks import missing_attributes, missing_on
from orchestrator.settings import Settings
from orchestrator.settings_checks import masked_url
from orchestrator.temporal_tls import loopback, tls_enabled
from use_cases.coordinator import COORDINATOR_QUEUE

SMTP_GREETING_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix else ""
        return f"{'ok  ' if self.ok else 'fail'} {self.name}: {self.detail}{fix}"

    def as_json(self) -> dict[str, object]:
        return asdict(self)


async def diagnose(settings: Settings, flows: Sequence[FlowSpec]) -> list[Check]:
    """Every check, in the order a person would fix them."""
    client, connection = await connection_check(settings)
    checks = [connection, tls_check(settings, connection)]
    if client is None:
        skipped = "not checked: Temporal not reached"
        checks += [Check(n, False, skipped) for n in ("namespace", "search attributes", "pollers")]
    else:
        namespace = await namespace_check(client, settings.temporal_namespace)
        checks.append(namespace)
        if namespace.ok:
            checks.append(await attributes_check(client, settings))
            checks += await poller_checks(client, settings, flows)
        else:
            unchecked = ("search attributes", "pollers")
            checks += [Check(n, False, "not checked: no namespace") for n in unchecked]
    pause = settings.smtp_greet_pause_seconds
    checks.append(await smtp_check(settings.smtp_host, settings.smtp_port, pause))
    if settings.database_url:
        checks.append(await asyncio.to_thread(database_check, settings.database_url))
    return checks


async def connection_check(settings: Settings) -> tuple[Client | None, Check]:
    target = settings.temporal_target
    try:
        client = await connect(settings)
    except (TemporalUnreachable, CliError) as exc:
        if "MAILROOM_" in str(exc):  # the line names the setting to change
            return None, Check("temporal", False, str(exc))
        return None, Check("temporal", False, f"cannot reach {target}", unreachable_fix(settings))
    return client, Check("temporal", True, f"reached {target}")


def unreachable_fix(settings: Settings) -> str:
    if settings.embedded_temporal:
        return "start it with `mailroom up` (or `mailroom server`)"
    return "check MAILROOM_TEMPORAL_ADDRESS and that the cluster (or its proxy) is up"


def tls_check(settings: Settings, connection: Check) -> Check:
    if not connection.ok:
        if "MAILROOM_TEMPORAL_TLS" in connection.detail:
            return Check("tls", False, "not established", "see the temporal line")
        return Check("tls", False, f"not checked: {connection.detail}")
    if not tls_enabled(settings):
        where = "this machine" if loopback(settings.temporal_target) else "over the network"
        return Check("tls", True, f"off: plaintext to {settings.temporal_target} ({where})")
    trusted = f"the CA in {settings.temporal_tls_ca}" if settings.temporal_tls_ca else "system CAs"
    client = ", client certificate" if settings.temporal_tls_cert else ""
    key = ", API key" if settings.temporal_api_key else ""
    return Check("tls", True, f"verified against {trusted}{client}{key}")


async def namespace_check(client: Client, namespace: str) -> Check:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fix = (
                f"create it (`temporal operator namespace create --namespace {namespace}`) "
                "or set MAILROOM_TEMPORAL_NAMESPACE"
            )
            return Check("namespace", False, f"{namespace} does not exist", fix)
        return Check("namespace", False, f"{namespace}: {exc.message}", "check its permissions")
    return Check("namespace", True, f"{namespace} exists")


async def attributes_check(client: Client, settings: Settings) -> Check:
    name = "search attributes"
    if not flow_config(settings).search_attributes:
        return Check(name, True, "off (MAILROOM_SEARCH_ATTRIBUTES)")
    try:
        missing = await missing_on(client, settings.temporal_namespace)
    except RPCError as exc:
        return Check(name, False, f"cannot list them: {exc.message}", "check its permissions")
    if missing:
        names = ", ".join(key.name for key in missing)
        fix = missing_attributes(missing, settings.temporal_namespace).split(": ", 1)[1]
        return Check(name, False, f"missing {names}", fix)
    return Check(name, True, "all registered")


async def poller_checks(
    client: Client, settings: Settings, flows: Sequence[FlowSpec]
) -> list[Check]:
    coordinator = f"{settings.queue_prefix}{COORDINATOR_QUEUE}"
    checks = [
        await workflow_pollers_check(client, settings.task_queue, ""),
        # every `mailroom worker` serves it: without one, lanes (budget, IMAP) wait
        await workflow_pollers_check(client, coordinator, " (coordinator)"),
    ]
    return checks + [flow_poller_check(row) for row in await flow_rows(client, flows, settings)]


async def workflow_pollers_check(client: Client, queue: str, what: str) -> Check:
    seen = await queue_pollers(client, queue)
    return Check(
        f"pollers {queue}{what}",
        seen.workflow_pollers > 0,
        f"{seen.workflow_pollers} workflow, {seen.activity_pollers} activity pollers",
        "" if seen.workflow_pollers else "start a worker (`mailroom worker`)",
    )


def flow_poller_check(row: FlowRow) -> Check:
    seen = row.pollers
    detail = f"{seen.workflow_pollers} workflow, {seen.activity_pollers} activity pollers"
    fix = "" if row.served else f"start `mailroom worker --flows {row.name}` (or one for all)"
    return Check(f"pollers {seen.task_queue} ({row.name})", row.served, detail, fix)


async def smtp_check(host: str, port: int, greet_pause: float = 0.0) -> Check:
    where = f"{host}:{port}"
    greeting = b""
    with suppress(OSError, TimeoutError):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), SMTP_GREETING_TIMEOUT
        )
        with suppress(OSError, TimeoutError):
            wait = greet_pause + SMTP_GREETING_TIMEOUT  # its pause before the greeting
            greeting = await asyncio.wait_for(reader.readline(), wait)
        writer.close()
    if greeting.startswith(b"220"):
        return Check("smtp", True, f"{where} greets")
    fix = "start `mailroom smtp` (or `mailroom up`), or set MAILROOM_SMTP_HOST/PORT"
    return Check("smtp", False, f"nothing greets on {where}", fix)


def database_check(url: str) -> Check:
    """Reached, and at the schema version this build's migrations reach: a worker or adapter
    migrates at start, so a database behind has not seen this build start yet, and one ahead
    was migrated by a newer build than this machine's."""
    where = masked_url(url)
    try:
        version = schema_version(url)
    except DatabaseUnavailable as exc:
        shown = " ".join(str(exc).replace(url, where).split())
        fix = "check MAILROOM_DATABASE_URL (host, port, user, password) and that PostgreSQL is up"
        return Check("database", False, f"cannot reach {where}: {shown}", fix)
    latest = len(MIGRATIONS)
    if version < latest:
        detail = f"{where} at schema version {version}, this build's is {latest}"
        return Check(
            "database", False, detail, "start a worker (`mailroom worker`) once: it migrates"
        )
    if version > latest:
        detail = f"{where} at schema version {version}, newer than this build's {latest}"
        return Check("database", False, detail, "upgrade mailroom on this machine")
    return Check("database", True, f"{where} reached, schema at version {latest}")
