"""OpenTelemetry tracing (issue 21): on only when the standard OTel variables ask for it.

`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, or
`OTEL_TRACES_EXPORTER=otlp` / `console`, installs an SDK tracer provider exporting in batches
(OTLP over HTTP/protobuf; the exporter reads its own `OTEL_EXPORTER_OTLP_*` variables:
headers, timeout, certificate, compression). Nothing set: no provider is installed, the SDK
and the exporter are not even imported, the Temporal client gets no interceptor, and the
adapters' spans are the API's no-op ones.

The trace itself is carried by the Temporal SDK's `TracingInterceptor` on the client: every
worker made from that client takes it too (the SDK prepends a client's worker interceptors),
so the context travels from the adapter's span through signal-with-start into the thread
workflow, its child flows and their activities, local ones included.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog
from opentelemetry import trace

from adapters.spans import tracing_on
from orchestrator.settings import SettingsError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

DEFAULT_SERVICE_NAME = "mailroom"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
EXPORTERS = ("otlp", "console")
# The one OTLP transport mailroom ships (opentelemetry-exporter-otlp-proto-http).
OTLP_PROTOCOL = "http/protobuf"


def exporters_asked(environ: Mapping[str, str]) -> list[str]:
    """The trace exporters the OTel variables ask for; [] is tracing off. Unlike the OTel
    default (`otlp` to localhost), nothing set means nothing exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    named = [n for n in named if n]
    if not named:
        return ["otlp"] if any(environ.get(v) for v in ENDPOINT_VARIABLES) else []
    if named == ["none"]:
        return []
    unknown = [n for n in named if n not in EXPORTERS]
    if unknown:
        raise SettingsError(
            f"OTEL_TRACES_EXPORTER: {unknown[0]!r} is not one mailroom has "
            f"(use {', '.join(EXPORTERS)} or none)"
        )
    return named


def check_protocol(environ: Mapping[str, str]) -> None:
    for name in PROTOCOL_VARIABLES:
        protocol = environ.get(name, "").strip()
        if protocol and protocol != OTLP_PROTOCOL:
            raise SettingsError(
                f"{name}: mailroom exports traces over {OTLP_PROTOCOL} only, not {protocol!r} "
                "(point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port, 4318)"
            )


def check_endpoints(environ: Mapping[str, str]) -> None:
    """The exporter takes any text and fails at each export ("Invalid URL", every span
    lost): a collector address written without its scheme stops the start instead."""
    for name in ENDPOINT_VARIABLES:
        endpoint = environ.get(name, "").strip()
        if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
            raise SettingsError(
                f"{name}: {endpoint!r} is not an http:// or https:// URL "
                "(e.g. http://collector:4318)"
            )


def tracer_provider(environ: Mapping[str, str]) -> TracerProvider | None:
    """The provider the variables ask for, not installed; None when tracing is off."""
    asked = exporters_asked(environ)
    if not asked:
        return None
    if "otlp" in asked:
        check_protocol(environ)
        check_endpoints(environ)
    try:
        return new_provider(environ, asked)
    except ValueError as exc:  # the SDK's own check of an OTEL_BSP_* value
        raise SettingsError(f"OpenTelemetry settings: {exc}") from None


def new_provider(environ: Mapping[str, str], asked: list[str]) -> TracerProvider:
    # Imported only here: with tracing off a process never loads the SDK or the exporter.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from orchestrator.span_redaction import ErrorTypesOnly

    name = environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    for exporter in asked:
        provider.add_span_processor(ErrorTypesOnly(BatchSpanProcessor(span_exporter(exporter))))
    return provider


def span_exporter(name: str) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # On stderr, one JSON object a line, with the logs: stdout is the CLI's output.
        return ConsoleSpanExporter(out=sys.stderr, formatter=one_line)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


# The provider configure_tracing installed in this process, for flush_tracing.
_installed: list[TracerProvider] = []


def configure_tracing(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the provider the OTel variables ask for, once per process, before any client
    connects (flush_tracing exports what its batches still hold)."""
    provider = tracer_provider(os.environ if environ is None else environ)
    if provider is not None:
        trace.set_tracer_provider(provider)
        _installed.append(provider)
    return provider


def flush_tracing() -> None:
    """Export the spans still batched and stop the exporters: called as the process leaves.
    The SDK's own flush is an atexit hook, which `cli.entry`'s os._exit never runs (the last
    spans of every stopped process were lost); bounded by the exporter's timeout
    (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s) when the collector does not answer."""
    while _installed:
        _installed.pop().shutdown()


def client_interceptors() -> list[Interceptor]:
    """What the Temporal client is given: the SDK's TracingInterceptor while tracing is on
    (its workers inherit it), nothing otherwise (no header, no span, no cost)."""
    if not tracing_on():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def add_trace_ids(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """structlog processor: `trace_id` and `span_id` (hex, as trace back-ends show them) on
    every line logged while a span is current, so a log query finds a mail's trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event.setdefault("span_id", trace.format_span_id(context.span_id))
    return event
