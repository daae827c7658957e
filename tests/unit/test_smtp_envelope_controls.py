"""A MAIL FROM with a control character (ESC, NUL, DEL, C1 such as U+0085, the line and
paragraph separators U+2028/9), even inside a quoted local part, is refused with Postfix's
553 5.1.7: it would reach the thread, the logs and the relay. The session goes on, and a
clean sender is accepted after it. Over a real socket to the real listener."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from adapters.inbound.mime import parse_email
from adapters.inbound.smtp import BAD_SENDER, SmtpInboundHandler
from adapters.inbound.smtp_listener import serve_smtp
from tests.fakes import FakeThreadGateway
from tests.support import free_port
from use_cases.ingest import ingest_email, printable_address
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested

HOSTILE = [
    b'"a\x1b[2J\x00b"@evil.example',
    b"a\x7fb@evil.example",
    b'"x\xc2\x85y"@evil.example',  # U+0085 NEL, as UTF-8
    b'"x\xe2\x80\xa8y"@evil.example',  # U+2028 LINE SEPARATOR
    b'"x\xe2\x80\xa9y"@evil.example',  # U+2029 PARAGRAPH SEPARATOR
    b"a\x01b@evil.example",
]
CLEAN = [b"alice@customer.example", b'"john doe"@customer.example', b""]


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        raise AssertionError("no mail is sent here")

    handler = SmtpInboundHandler(Mailboxes(["mailroom.local"]), ingest)
    chosen = free_port()
    listener = await serve_smtp(handler, host="127.0.0.1", port=chosen, max_message_bytes=1 << 20)
    try:
        yield chosen
    finally:
        await listener.stop(timeout=5)


async def answers_to_mail_from(port: int, senders: list[bytes]) -> list[str]:
    """One connection; for each sender a MAIL FROM (with SMTPUTF8) and a RSET."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> str:
        lines = [await asyncio.wait_for(reader.readline(), 10)]
        while lines[-1][3:4] == b"-":
            lines.append(await asyncio.wait_for(reader.readline(), 10))
        return lines[-1].decode().rstrip("\r\n")

    answers = []
    try:
        await reply()  # greeting
        writer.write(b"EHLO client.example\r\n")
        await reply()
        for sender in senders:
            writer.write(b"MAIL FROM:<" + sender + b"> SMTPUTF8\r\n")
            answers.append(await reply())
            writer.write(b"RSET\r\n")
            await reply()
    finally:
        writer.close()
    return answers


async def test_a_sender_with_a_control_character_is_refused_553_5_1_7(port: int) -> None:
    assert await answers_to_mail_from(port, HOSTILE) == [BAD_SENDER] * len(HOSTILE)


async def test_clean_senders_pass_in_the_same_session_after_a_refusal(port: int) -> None:
    answers = await answers_to_mail_from(port, [HOSTILE[0], *CLEAN])
    assert answers[0] == BAD_SENDER
    assert [a[:3] for a in answers[1:]] == ["250"] * len(CLEAN)


async def test_ingest_drops_control_characters_from_an_envelope_sender() -> None:
    threads = FakeThreadGateway()
    raw = (
        b"From: Bob <bob@other.example>\r\nTo: support@mailroom.local\r\nSubject: hi\r\n"
        b"Message-ID: <m1@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nhello\r\n"
    )
    envelope_from = '"a\x1b[2J\x00b\x85\u2028\u2029\x7f"@evil.example'
    await ingest_email(
        raw,
        mailboxes=["support@mailroom.local"],
        gateway=threads,
        parse=parse_email,
        envelope_from=envelope_from,
    )
    [(_, message)] = threads.handed_off
    assert message.reply_target == '"a[2jb"@evil.example'  # addresses are lower-cased
    assert printable_address('"john doe"@customer.example') == '"john doe"@customer.example'
