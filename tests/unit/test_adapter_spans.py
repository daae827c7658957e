"""The adapters' spans say what happened to a mail in codes and counts, never addresses."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import StatusCode

from adapters.inbound.smtp import HANDOFF_FAILED
from adapters.outbound.smtp_sender import SentLog, SmtpRelaySender
from adapters.spans import record_reply
from tests.span_recorder import recorded_spans
from tests.unit.test_smtp_relay_sender import RecordingRelay, ack, relay

__all__ = ["relay"]  # the relay fixture, used here by name


def answered(reply: str) -> ReadableSpan:
    span = TracerProvider().get_tracer("test").start_span("smtp.receive")
    record_reply(span, reply)
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def test_a_deferred_mail_s_span_has_the_reply_code_and_an_error_status() -> None:
    span = answered(HANDOFF_FAILED)
    assert dict(span.attributes or {}) == {
        "smtp.reply.code": 451,
        "smtp.reply.enhanced_code": "4.3.0",
    }
    assert span.status.status_code is StatusCode.ERROR


def test_an_accepted_mail_s_span_names_no_message_id() -> None:
    span = answered("250 2.0.0 OK: queued as <q-1@example.com>")
    assert dict(span.attributes or {}) == {
        "smtp.reply.code": 250,
        "smtp.reply.enhanced_code": "2.0.0",
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_a_relayed_mail_is_one_span_with_its_recipient_count_and_no_address(
    relay: tuple[RecordingRelay, int], tmp_path: Path
) -> None:
    _, port = relay
    sender = SmtpRelaySender("127.0.0.1", port, SentLog(tmp_path / "sent.sqlite"))
    with recorded_spans() as spans:
        await sender.send(ack())
        await sender.send(ack())  # a retried activity: already sent
        sent = [(s.name, dict(s.attributes or {})) for s in spans.get_finished_spans()]
    assert sent == [
        ("smtp.relay", {"mail.recipients": 1, "mail.already_sent": False}),
        ("smtp.relay", {"mail.recipients": 1, "mail.already_sent": True}),
    ]
