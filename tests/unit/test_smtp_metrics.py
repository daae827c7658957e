"""The SMTP adapter counts what it answers about each mail and times each hand-off, with
bounded labels (stage, outcome, code, named reason), in a Prometheus registry. Over a real
socket to the real listener; the hand-off is a fake of our own ingest port."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator, Sequence
from typing import cast

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import CollectorRegistry, generate_latest

from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_listener import serve_smtp
from adapters.inbound.smtp_outcomes import classify
from adapters.inbound.smtp_session import ANSWER_REASONS
from adapters.outbound.metrics import PrometheusMetrics
from tests.fakes import FakeBackpressure
from tests.stack import send_mail
from tests.support import free_port, wait_for
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested
from use_cases.ports import HandoffFailed

MAIL = b"From: alice@customer.example\nMessage-ID: <{n}@customer.example>\nSubject: {s}\n\nhi\n"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[int, CollectorRegistry]]:
    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        if b"Subject: fail" in raw:
            raise HandoffFailed("Temporal is away")
        return Ingested(message_id="<1@customer.example>", thread_ids=("t1",))

    registry = CollectorRegistry()
    handler = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]), ingest, metrics=PrometheusMetrics(registry)
    )
    port = free_port()
    listener = await serve_smtp(handler, host="127.0.0.1", port=port, max_message_bytes=1 << 20)
    try:
        yield port, registry
    finally:
        await listener.stop(timeout=5)


def mail(n: int, subject: str) -> bytes:
    return MAIL.replace(b"{n}", str(n).encode()).replace(b"{s}", subject.encode())


def answered(registry: CollectorRegistry, **labels: str) -> float | None:
    return registry.get_sample_value("mailroom_smtp_mails_total", labels)


async def test_accepted_deferred_and_refused_mail_are_counted_by_code_and_reason(
    smtp: tuple[int, CollectorRegistry],
) -> None:
    port, registry = smtp
    to = ["support@mailroom.local"]
    await asyncio.to_thread(send_mail, port, mail(1, "ok"), to, "alice@customer.example")
    with pytest.raises(smtplib.SMTPDataError):
        await asyncio.to_thread(send_mail, port, mail(2, "fail"), to, "a@customer.example")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(
            send_mail, port, mail(3, "ok"), ["x@elsewhere.example"], "a@customer.example"
        )

    assert registry.get_sample_value("mailroom_smtp_mails_received_total") == 2
    accepted = dict(stage="data", outcome="accepted", code="250", reason="queued")
    deferred = dict(stage="data", outcome="deferred", code="451", reason="handoff_failed")
    refused = dict(stage="rcpt", outcome="refused", code="550", reason="unknown_recipient")
    assert answered(registry, **accepted) == 1
    assert answered(registry, **deferred) == 1
    assert answered(registry, **refused) == 1
    assert answered(registry, stage="mail", outcome="accepted", code="250", reason="other") is None
    handoffs = "mailroom_handoff_seconds_count"
    assert registry.get_sample_value(handoffs, {"outcome": "accepted"}) == 1
    assert registry.get_sample_value(handoffs, {"outcome": "deferred"}) == 1


async def test_no_label_carries_an_address_or_a_message_id(
    smtp: tuple[int, CollectorRegistry],
) -> None:
    port, registry = smtp
    await asyncio.to_thread(
        send_mail, port, mail(4, "ok"), ["support@mailroom.local"], "alice@customer.example"
    )
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(
            send_mail, port, mail(5, "ok"), ["x@elsewhere.example"], "a@customer.example"
        )
    exposition = generate_latest(registry).decode()
    assert "mailroom_smtp_mails_total" in exposition
    assert "@" not in exposition


async def test_senders_held_for_the_backlog_are_a_gauge() -> None:
    registry = CollectorRegistry()
    backlog = FakeBackpressure(overloaded=True)
    handler = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        never_called,
        backlog=backlog,
        backlog_hold_seconds=60,
        metrics=PrometheusMetrics(registry),
    )
    session = Session(asyncio.get_running_loop())
    session.peer = "192.0.2.1"
    held = asyncio.create_task(
        handler.handle_MAIL(cast(SMTP, None), session, Envelope(), "a@example.com", [])
    )
    await wait_for(lambda: backlog.waiting == 1, what="a sender held")
    assert registry.get_sample_value("mailroom_smtp_held_senders") == 1
    backlog.clear()
    assert (await held).startswith("250")
    assert registry.get_sample_value("mailroom_smtp_held_senders") == 0


async def never_called(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
    raise AssertionError("no mail is handed off here")


class DiskFilling:
    """Our StorageSpace: room until `full` is set (the disk fills during a transaction)."""

    def __init__(self) -> None:
        self.full = False

    def room_for(self, size: int) -> bool:
        return not self.full


def refused_for_size(port: int, body_bytes: int, declare_size: bool) -> tuple[int, int]:
    """The answers to MAIL and to DATA's end for a mail of `body_bytes`, the size declared at
    MAIL (SIZE=) or not."""
    body = mail(6, "big").replace(b"\n", b"\r\n")
    raw = body + (b"x" * 70 + b"\r\n") * (body_bytes // 72 + 1)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        options = [f"SIZE={len(raw)}"] if declare_size else []
        code, _ = client.mail("a@customer.example", options)
        if code != 250:
            return code, 0
        client.rcpt("support@mailroom.local")
        code_data, _ = client.data(raw)
        return code, code_data


async def test_mail_refused_for_its_size_is_counted_at_mail_and_after_the_body(
    smtp: tuple[int, CollectorRegistry],
) -> None:
    port, registry = smtp
    assert await asyncio.to_thread(refused_for_size, port, 2 << 20, True) == (552, 0)
    assert await asyncio.to_thread(refused_for_size, port, 2 << 20, False) == (250, 552)
    at_mail = dict(stage="mail", outcome="refused", code="552", reason="size")
    after_body = dict(stage="data", outcome="refused", code="552", reason="too_much_data")
    assert answered(registry, **at_mail) == 1
    assert answered(registry, **after_body) == 1


async def test_a_deferral_before_datas_354_is_counted() -> None:
    registry = CollectorRegistry()
    disk = DiskFilling()
    handler = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        never_called,
        storage=disk,
        metrics=PrometheusMetrics(registry),
    )
    port = free_port()
    listener = await serve_smtp(handler, host="127.0.0.1", port=port, max_message_bytes=1 << 20)
    try:
        assert await asyncio.to_thread(fills_before_data, port, disk) == 452
    finally:
        await listener.stop(timeout=5)
    deferred = dict(stage="data", outcome="deferred", code="452", reason="storage")
    assert answered(registry, **deferred) == 1


def fills_before_data(port: int, disk: DiskFilling) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail("a@customer.example")
        client.rcpt("support@mailroom.local")
        disk.full = True
        code, _ = client.docmd("DATA")
        return code


def test_every_reply_is_counted_under_its_own_reason() -> None:
    """A reply whose text begins with another's (452 4.5.3 Too many recipients [in this
    connection]) still gets its own reason."""
    for template, reason in ANSWER_REASONS.items():
        reply = re.sub(r"\{\w+\}", "<1@customer.example>", template)  # its fields filled
        assert classify(reply, ANSWER_REASONS).reason == reason, template
