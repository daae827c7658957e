from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.inbound.mime import parse_email
from tests.conftest import FIXTURES
from tests.fakes import FakeThreadGateway
from use_cases.ingest import ingest_email
from use_cases.ports import HandoffFailed


async def test_one_mail_to_two_mailboxes_reaches_a_thread_in_each() -> None:
    gateway = FakeThreadGateway()
    raw = (FIXTURES / "multi_mailbox.eml").read_bytes()
    mailboxes = ["support@mailroom.local", "procurement@mailroom.local"]
    ingested = await ingest_email(raw, mailboxes=mailboxes, gateway=gateway, parse=parse_email)
    assert [k.mailbox for k, _ in gateway.handed_off] == mailboxes
    assert len(set(ingested.thread_ids)) == 2
    assert all(m.message_id == "<multi-1@example.com>" for _, m in gateway.handed_off)


async def test_a_null_envelope_sender_marks_the_mail_automatic() -> None:
    gateway = FakeThreadGateway()
    raw = (FIXTURES / "support_question.eml").read_bytes()
    await ingest_email(
        raw,
        mailboxes=["support@mailroom.local"],
        gateway=gateway,
        parse=parse_email,
        envelope_from="",
    )
    assert gateway.handed_off[0][1].automatic == "empty return path (bounce)"


async def test_long_bodies_are_cut_for_the_signal_and_flagged() -> None:
    gateway = FakeThreadGateway()
    raw = b"Message-ID: <big@x>\r\n\r\n" + b"a" * 100_000
    await ingest_email(
        raw, mailboxes=["support@mailroom.local"], gateway=gateway, parse=parse_email
    )
    message = gateway.handed_off[0][1]
    assert message.text_truncated and len(message.text) < 100_000


async def test_a_failed_hand_off_is_raised_to_the_adapter() -> None:
    gateway = FakeThreadGateway()
    gateway.fail_with = "Temporal unreachable"
    raw = (FIXTURES / "support_question.eml").read_bytes()
    with pytest.raises(HandoffFailed):
        await ingest_email(
            raw, mailboxes=["support@mailroom.local"], gateway=gateway, parse=parse_email
        )


async def test_a_redelivery_has_the_same_digest_and_other_content_another() -> None:
    gateway = FakeThreadGateway()
    raw = (FIXTURES / "support_question.eml").read_bytes()
    relayed = b"Received: from mx2.example by mx3.example\r\nReturn-Path: <a@b>\r\n" + raw
    other = raw.replace(b"What should I do?", b"Never mind.")
    assert other != raw
    for mail in (raw, relayed, other):
        await ingest_email(
            mail, mailboxes=["support@mailroom.local"], gateway=gateway, parse=parse_email
        )
    first, again, reused = (m.content_digest for _, m in gateway.handed_off)
    assert first == again != reused and first


async def test_a_redelivery_without_a_date_keeps_its_digest() -> None:
    gateway = FakeThreadGateway()
    raw = b"From: a@example.com\r\nMessage-ID: <undated@x>\r\nSubject: hi\r\n\r\nhello\r\n"
    for hour in (1, 5):
        await ingest_email(
            raw,
            mailboxes=["support@mailroom.local"],
            gateway=gateway,
            parse=parse_email,
            received_at=datetime(2026, 12, 1, hour, tzinfo=UTC),
        )
    first, again = (m.content_digest for _, m in gateway.handed_off)
    assert first == again, "the arrival time standing in for the Date is not content"
