"""The adapters' OpenTelemetry spans: one per mail received over SMTP (DATA to the answer),
one per mail fetched over IMAP, one per mail sent. The hand-off (signal-with-start) runs
inside the mail's span, so the Temporal client's TracingInterceptor puts the thread
workflow's spans in the same trace (orchestrator/tracing.py).

Attributes are counts, sizes and reply codes: never an address, a subject or a Message-ID
(a trace back-end is not where personal data should end up). With no tracer provider
installed nothing is made at all: even the API's no-op span cost ~13 µs a call.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from use_cases.mail import OutboundEmail, SendResult

# A proxy, made without asking the API for its provider: `trace.get_tracer` at import would
# read OTEL_PYTHON_TRACER_PROVIDER and could install a provider before orchestrator/tracing.py
# does. The proxy takes the provider installed when its first span starts.
TRACER = trace.ProxyTracer("mailroom")
REPLY_CODES = re.compile(r"(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3}))?")

H = TypeVar("H")
SmtpHook = Callable[[H, Any, Any, Any], Coroutine[Any, Any, str]]
ImapHandOff = Callable[[H, Any, Any, int, bytes], Coroutine[Any, Any, bool]]
Send = Callable[[H, OutboundEmail], Coroutine[Any, Any, SendResult]]


def tracing_on() -> bool:
    """Whether a tracer provider was installed in this process (orchestrator/tracing.py, or
    a test's): until then the API's global is a proxy handing out no-op tracers."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class Envelope(Protocol):
    rcpt_tos: list[str]
    content: bytes | str | None
    original_content: bytes | None


def traced_smtp_data(hook: SmtpHook[H]) -> SmtpHook[H]:
    """`handle_DATA(handler, server, session, envelope)` inside span `smtp.receive`: the
    number of recipients and bytes, the reply code; an error status unless it is 2xx."""

    @functools.wraps(hook)
    async def answer(handler: H, server: Any, session: Any, envelope: Envelope) -> str:
        if not tracing_on():
            return await hook(handler, server, session, envelope)
        attributes = {
            "smtp.recipients": len(envelope.rcpt_tos),
            "smtp.message.size": len(envelope.original_content or envelope.content or b""),
        }
        with TRACER.start_as_current_span(
            "smtp.receive", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            reply = await hook(handler, server, session, envelope)
            record_reply(span, reply)
            return reply

    return answer


def record_reply(span: Span, reply: str) -> None:
    """The reply's code and enhanced code (not its text: a 250 names the Message-ID)."""
    codes = REPLY_CODES.match(reply)
    if codes is None:
        return
    span.set_attribute("smtp.reply.code", int(codes[1]))
    if codes[2]:
        span.set_attribute("smtp.reply.enhanced_code", codes[2])
    if not codes[1].startswith("2"):
        span.set_status(Status(StatusCode.ERROR, f"SMTP {codes[1]}"))


def traced_imap_mail(hand_off: ImapHandOff[H]) -> ImapHandOff[H]:
    """`_hand_off(poller, session, checkpoint, uid, raw)` inside span `imap.mail`: the UID,
    its size, whether it was handed off (False: quarantined)."""

    @functools.wraps(hand_off)
    async def traced(poller: H, session: Any, checkpoint: Any, uid: int, raw: bytes) -> bool:
        if not tracing_on():
            return await hand_off(poller, session, checkpoint, uid, raw)
        attributes = {"imap.uid": uid, "imap.message.size": len(raw)}
        with TRACER.start_as_current_span(
            "imap.mail", kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            handed = await hand_off(poller, session, checkpoint, uid, raw)
            span.set_attribute("imap.handed_off", handed)
            return handed

    return traced


def traced_send(name: str) -> Callable[[Send[H]], Send[H]]:
    """A sender's `send(mail)` inside span `name`: recipients, and whether it had been
    sent already (a retried activity)."""

    def wrap(send: Send[H]) -> Send[H]:
        @functools.wraps(send)
        async def traced(sender: H, mail: OutboundEmail) -> SendResult:
            if not tracing_on():
                return await send(sender, mail)
            with TRACER.start_as_current_span(
                name, kind=SpanKind.CLIENT, attributes={"mail.recipients": len(mail.to)}
            ) as span:
                result = await send(sender, mail)
                span.set_attribute("mail.already_sent", result.already_sent)
                return result

        return traced

    return wrap
