"""Each serving process's Prometheus endpoint (MAILROOM_METRICS_ADDRESS, issue 21):
mailroom's own metrics and the Temporal SDK's (`temporal_*`, of the client and workers,
through its runtime's MetricBuffer) on `/metrics` at the address."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import structlog
from prometheus_client import REGISTRY, start_http_server
from temporalio.runtime import MetricBuffer, MetricBufferDurationFormat, Runtime, TelemetryConfig

from adapters.outbound.metrics import PrometheusMetrics
from adapters.outbound.temporal_sdk_metrics import TemporalSdkMetrics
from orchestrator.settings import OFF, Settings, parse_host_port
from orchestrator.startup_checks import StartupError
from use_cases.ports import NoMetrics, ProcessMetrics

log = structlog.get_logger()

# Prometheus's registry of default ports lists 9464 for OpenTelemetry's Prometheus exporter.
UP_METRICS_ADDRESS = "127.0.0.1:9464"
# Only `mailroom up` runs both (its server is not among them with MAILROOM_TEMPORAL_ADDRESS).
UP_PARTS = frozenset({"worker", "smtp"})
# The SDK's updates wait in its buffer between drains (a full buffer drops them): a busy
# worker makes a few thousand a second.
SDK_BUFFER_SIZE = 100_000
SDK_DRAIN_SECONDS = 1.0


def metrics_address(settings: Settings, parts: set[str]) -> tuple[str, bool] | None:
    """Where to serve and whether it must succeed; None: off. `parts`: the command's, its
    child processes' roles included. Unset, `mailroom up` serves
    at UP_METRICS_ADDRESS if it is free (a second installation on the machine, or tests
    running many, carry on without)."""
    value = settings.metrics_address
    if value is None:
        return (UP_METRICS_ADDRESS, False) if parts >= UP_PARTS else None
    if value.strip().lower() in OFF:
        return None
    return value.strip(), True


def child_metrics(
    settings: Settings, parts: set[str], children: int
) -> Callable[[int], tuple[str, bool]] | None:
    """Where the child numbered n (1 to `children`) of a process group serves: the
    parent's port plus n, so each process has its own port and the parent keeps the
    configured one (serving it when it runs parts itself)."""
    where = metrics_address(settings, parts)
    if where is None:
        return None
    address, required = where
    host, port = parse_host_port(address)
    if port + children > 65535:
        raise StartupError(
            f"MAILROOM_METRICS_ADDRESS: {address} leaves no room for the {children} child "
            f"processes' ports (port + 1 to port + {children}): give a lower port"
        )
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    return lambda n: (f"{shown}:{port + n}", required)


def serve_metrics(where: tuple[str, bool] | None, stack: AsyncExitStack) -> ProcessMetrics:
    """Start this process's endpoints (until `stack` closes) before the Temporal client
    is made: the SDK's exporter is in the default runtime the client takes. `where`:
    metrics_address's answer, or a child's (ChildLink.metrics)."""
    if where is None:
        return NoMetrics()
    address, required = where
    host, port = parse_host_port(address)
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        return unserved(address, exc, required)
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    sdk_metrics()
    log.info("metrics_serving", address=address)
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
def sdk_metrics() -> TemporalSdkMetrics:
    """The SDK's metrics, exported with ours: the process's default Temporal runtime
    (taken by the clients made from now) buffers them. Once per process."""
    buffer = MetricBuffer(SDK_BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(metrics=buffer)), error_if_already_set=False
    )
    collector = TemporalSdkMetrics(buffer)
    REGISTRY.register(collector)
    # Drained for as long as the runtime lives, which is the process's life: the clients
    # made on it keep recording after an endpoint stops, and a full buffer makes the SDK
    # log an error for every update it drops. A thread, so no event loop has to outlive it.
    threading.Thread(
        target=drain_forever, args=(collector,), name="sdk-metrics-drain", daemon=True
    ).start()
    return collector


def drain_forever(collector: TemporalSdkMetrics) -> None:
    while True:
        time.sleep(SDK_DRAIN_SECONDS)
        collector.drain()
