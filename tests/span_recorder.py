"""The test process's tracer provider, recording spans in memory while a test asks for them.

OpenTelemetry lets a process install one global provider: every test that needs spans uses
this one (installed on first use), and it records only inside `recorded_spans()`, so the rest
of the session keeps no span."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class WhileRecording(SpanProcessor):
    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.recording = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self.inner.on_end(span)


EXPORTER = InMemorySpanExporter()
PROCESSOR = WhileRecording(SimpleSpanProcessor(EXPORTER))
_installed: list[TracerProvider] = []


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    if not _installed:
        provider = TracerProvider()
        provider.add_span_processor(PROCESSOR)
        trace.set_tracer_provider(provider)
        _installed.append(provider)
    EXPORTER.clear()
    PROCESSOR.recording = True
    try:
        yield EXPORTER
    finally:
        PROCESSOR.recording = False
        EXPORTER.clear()
