"""Each serving process's Prometheus endpoint (MAILROOM_METRICS_ADDRESS, issue 21):
mailroom's own metrics on `/metrics` at the address, the Temporal SDK's (its runtime's
Prometheus exporter: `temporal_*` metrics of the client and workers) on the next port."""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack

import structlog
from prometheus_client import start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from adapters.outbound.metrics import PrometheusMetrics
from orchestrator.settings import Settings, parse_host_port
from orchestrator.startup_checks import StartupError
from use_cases.ports import IntakeMetrics, NoMetrics

log = structlog.get_logger()

# Prometheus's registry of default ports lists 9464 for OpenTelemetry's Prometheus exporter.
UP_METRICS_ADDRESS = "127.0.0.1:9464"
UP_PARTS = frozenset({"server", "worker", "smtp"})
OFF = {"", "off"}


def metrics_address(settings: Settings, parts: set[str]) -> tuple[str, bool] | None:
    """Where to serve and whether it must succeed; None: off. Unset, `mailroom up` serves
    at UP_METRICS_ADDRESS if it is free (a second installation on the machine, or tests
    running many, carry on without)."""
    value = settings.metrics_address
    if value is None:
        return (UP_METRICS_ADDRESS, False) if parts >= UP_PARTS else None
    if value.strip().lower() in OFF:
        return None
    return value.strip(), True


def serve_metrics(settings: Settings, parts: set[str], stack: AsyncExitStack) -> IntakeMetrics:
    """Start this process's endpoints (until `stack` closes) before the Temporal client
    is made: the SDK's exporter is in the default runtime the client takes."""
    where = metrics_address(settings, parts)
    if where is None:
        return NoMetrics()
    address, required = where
    host, port = parse_host_port(address)
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        return unserved(address, exc, required)
    try:
        sdk_metrics(f"{host}:{port + 1}")
    except ValueError as exc:  # the SDK's exporter could not bind its port
        server.shutdown()
        server.server_close()
        return unserved(f"{host}:{port + 1}", exc, required)
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    log.info("metrics_serving", address=address, temporal_sdk_port=port + 1)
    return process_metrics()


def unserved(address: str, exc: Exception, required: bool) -> NoMetrics:
    """A set address must be served (StartupError, one line); `mailroom up`'s default
    is skipped with a warning."""
    if required:
        raise StartupError(f"MAILROOM_METRICS_ADDRESS: cannot serve metrics on {address}: {exc}")
    log.warning("metrics_not_served", address=address, error=str(exc))
    return NoMetrics()


@functools.cache
def process_metrics() -> PrometheusMetrics:
    """One per process: its metrics register in prometheus-client's default registry."""
    return PrometheusMetrics()


@functools.cache
def sdk_metrics(bind_address: str) -> Runtime:
    """The Temporal runtime exporting the SDK's metrics at `bind_address`, made the
    process's default (once per address: its exporter keeps the port while it lives)."""
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address))
    )
    Runtime.set_default(runtime, error_if_already_set=False)  # the clients made from now
    return runtime
