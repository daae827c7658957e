"""What leaves the process in a span: an error's type, never its message.

An exception's text can name a person: a relay's `550 5.1.1 <bob@example.com>: Recipient
address rejected`, smtplib's refused-recipients map. The Temporal SDK's TracingInterceptor
puts a failed activity's or workflow's exception in its span's status description
(`Type: message`) and in an `exception` event (message and stack trace), as the OTel SDK does
for any span left by an exception. A trace back-end is not where personal data should end up
(adapters/spans.py): each span is exported with the status description cut to the error's
type and its `exception` events cut to `exception.type`. The full failure stays where it
belongs, in the workflow's history, which the span's `temporalWorkflowID` finds."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

EXCEPTION_EVENT = "exception"
KEPT_EXCEPTION_ATTRIBUTES = ("exception.type", "exception.escaped")


class ErrorTypesOnly(SpanProcessor):
    """Hands `inner` (the batch processor of an exporter) each ended span, redacted."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(redacted(span))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def redacted(span: ReadableSpan) -> ReadableSpan:
    """`span` itself when it carries no error text (the common case costs no copy)."""
    description = span.status.description
    errors = any(event.name == EXCEPTION_EVENT for event in span.events)
    if not description and not errors:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=[without_message(event) for event in span.events],
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code, error_type(description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def error_type(description: str | None) -> str | None:
    """`Type: message` (how both SDKs describe an exception) to `Type`."""
    return description.split(":", 1)[0].strip() if description else description


def without_message(event: Event) -> Event:
    if event.name != EXCEPTION_EVENT:
        return event
    attributes = event.attributes or {}
    kept = {key: attributes[key] for key in KEPT_EXCEPTION_ATTRIBUTES if key in attributes}
    return Event(EXCEPTION_EVENT, kept, timestamp=event.timestamp)
