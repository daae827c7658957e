"""The SMTP front door when things go wrong, against the real listener with raw sockets: a
STARTTLS handshake that never comes, a client that half-closes or leaves during its
hand-off, an exception no rule answers, password guessing, and bodies piling up in memory
while their hand-offs wait."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_admission import Admission, AdmissionLimits
from adapters.inbound.smtp_data import Spool
from adapters.inbound.smtp_listener import SmtpListener, serve_smtp
from adapters.inbound.smtp_security import (
    Credentials,
    FailureRate,
    hash_password,
    server_tls_context,
)
from adapters.inbound.smtp_session import SessionRules
from tests.dovecot_tls import make_certificates
from tests.fakes import FakeBackpressure
from tests.support import free_port, wait_for
from tests.unit.test_smtp_admission import MAIL, Client, Recorded
from use_cases.mailboxes import Mailboxes

CHEAP = {"n": 2**4, "r": 1}  # a cheap work factor: these tests are about the protocol


@dataclass
class Door:
    port: int
    admission: Admission
    recorded: Recorded
    handler: SmtpInboundHandler
    listener: SmtpListener


@asynccontextmanager
async def door(
    *,
    timeout: float = 300.0,
    tls: ssl.SSLContext | None = None,
    rules: SessionRules | None = None,
    submission: bool = False,
    max_pending_bytes: int = 256 * 1024 * 1024,
    limits: AdmissionLimits | None = None,
    backlog: FakeBackpressure | None = None,
) -> AsyncIterator[Door]:
    recorded = Recorded()
    admission = Admission(limits or AdmissionLimits(rate_exempt=()))
    handler = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        recorded.ingest,
        max_pending_bytes=max_pending_bytes,
        backlog=backlog,
    )
    port = free_port()
    listener = await serve_smtp(
        handler,
        host="127.0.0.1",
        port=port,
        max_message_bytes=1024 * 1024,
        admission=admission,
        timeout=timeout,
        tls_context=tls,
        rules=rules,
        submission=submission,
    )
    try:
        yield Door(port, admission, recorded, handler, listener)
    finally:
        await listener.stop(timeout=5)


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    files = make_certificates(tmp_path_factory.mktemp("tls"))
    client = ssl.create_default_context(cafile=str(files.ca))
    client.check_hostname = False
    return server_tls_context(files.cert, files.key), client


async def start_data(client: Client) -> None:
    assert (await client.say("EHLO client.example")).startswith("250")
    assert (await client.say("MAIL FROM:<alice@example.com>")).startswith("250")
    assert (await client.say("RCPT TO:<support@mailroom.local>")).startswith("250")
    assert (await client.say("DATA")).startswith("354")


async def test_a_starttls_handshake_that_never_comes_frees_its_place_at_the_timeout(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async with door(timeout=1, tls=tls_pair[0]) as d:
        client, _ = await Client.connect(d.port)
        assert (await client.say("EHLO client.example")).startswith("250")
        assert (await client.say("STARTTLS")).startswith("220")
        assert d.admission.open == 1
        # Silent: the handshake never starts. Python 3.11's SSL layer dropped such a
        # connection without telling the session, which held its place for ever.
        assert await client.closed_by_server()
        await wait_for(lambda: d.admission.open == 0 and not d.admission.by_client, timeout=10)
        client.close()


async def test_a_half_close_after_the_final_dot_gets_its_250_and_the_mail_is_kept() -> None:
    async with door() as d:
        d.recorded.release = asyncio.Event()  # the hand-off waits until the client half-closed
        client, _ = await Client.connect(d.port)
        await start_data(client)
        client.writer.write(MAIL + b"QUIT\r\n")  # as `nc -N` does: then end of input
        client.writer.write_eof()
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        d.recorded.release.set()
        answers = (await asyncio.wait_for(client.reader.read(), 10)).decode()
        assert answers.startswith("250 2.0.0 OK: queued as <m@example.com>\r\n221 ")
        assert len(d.recorded.mails) == 1
        client.close()
        await wait_for(lambda: d.admission.open == 0, what="the connection closed")


def reset(client: Client) -> None:
    """Drop the connection with a TCP reset: the server's session is cancelled at once."""
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.writer.transport.abort()


async def test_a_client_gone_during_a_slow_hand_off_still_has_its_mail_kept_once() -> None:
    async with door() as d:
        d.recorded.release = asyncio.Event()
        client, _ = await Client.connect(d.port)
        await start_data(client)
        client.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        reset(client)  # gone, without waiting for the answer
        await wait_for(lambda: d.admission.open == 0, what="the connection lost")
        d.recorded.release.set()
        await wait_for(lambda: d.handler.in_flight == 0, what="the hand-off finished")
        assert len(d.recorded.mails) == 1


async def test_stop_waits_for_a_hand_off_whose_client_left() -> None:
    async with door() as d:
        d.recorded.release = asyncio.Event()
        client, _ = await Client.connect(d.port)
        await start_data(client)
        client.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        reset(client)
        await wait_for(lambda: d.admission.open == 0, what="the connection lost")
        stopping = asyncio.ensure_future(d.listener.stop(timeout=10))
        await wait_for(d.handler._stopping.is_set, what="stop() under way")
        assert not stopping.done()  # and it waits for the hand-off
        d.recorded.release.set()
        await asyncio.wait_for(stopping, 10)
        assert len(d.recorded.mails) == 1


async def test_a_size_in_other_digits_is_a_syntax_error_and_the_session_goes_on() -> None:
    async with door() as d:
        client, _ = await Client.connect(d.port)
        assert (await client.say("EHLO client.example")).startswith("250")
        answer = await client.say("MAIL FROM:<alice@example.com> SIZE=\u00b2")
        assert answer.startswith("501 ")
        assert (await client.say("MAIL FROM:<alice@example.com> SIZE=10")).startswith("250")
        client.close()


async def test_a_spool_that_cannot_be_made_defers_the_mail_and_reads_its_body_as_body(
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    async with door(rules=SessionRules(spool=Spool(directory=a_file / "spool"))) as d:
        client, _ = await Client.connect(d.port)
        await start_data(client)
        # A body whose lines look like commands: never to be taken for them.
        client.writer.write(b"RSET\r\nMAIL FROM:<ceo@victim.example>\r\nhi\r\n.\r\n")
        answer = await client.reply()
        assert answer.startswith("451 4.3.0 "), answer
        assert (await client.say("NOOP")).startswith("250")  # in step: one reply per line
        assert d.recorded.mails == []
        client.close()


async def test_an_unexpected_error_is_421_and_close_never_a_500_with_internals(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    credentials = Credentials({"bob": hash_password("pw", **CHEAP)})
    rules = SessionRules(credentials=credentials)
    async with door(tls=tls_pair[0], rules=rules, submission=True) as d:
        client = await tls_client(d.port, tls_pair[1])
        assert (await client.say("AUTH LOGIN")).startswith("334")
        # An answer longer than aiosmtpd's line limit: its reader raised ValueError, answered
        # "500 Error: (ValueError) ..." and the rest of the line was read as commands.
        client.writer.write(b"A" * 3000 + b"\r\nNOOP\r\n")
        answer = await client.reply()
        assert answer.startswith("421 4.3.0 ") and "ValueError" not in answer
        assert await client.closed_by_server()
        await wait_for(lambda: d.admission.open == 0, what="the connection closed")


async def test_a_failed_tls_handshake_is_one_log_line_and_frees_its_place(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], caplog: pytest.LogCaptureFixture
) -> None:
    async with door(tls=tls_pair[0]) as d:
        client, _ = await Client.connect(d.port)
        assert (await client.say("EHLO client.example")).startswith("250")
        assert (await client.say("STARTTLS")).startswith("220")
        client.writer.write(b"\x16\x03\x01\x00\x05not-tls\r\n")
        assert await client.closed_by_server()
        await wait_for(lambda: d.admission.open == 0, what="the connection closed")
    assert "Traceback" not in caplog.text and "SMTP session exception" not in caplog.text


async def tls_client(port: int, context: ssl.SSLContext) -> Client:
    client, _ = await Client.connect(port)
    assert (await client.say("EHLO client.example")).startswith("250")
    assert (await client.say("STARTTLS")).startswith("220")
    await client.writer.start_tls(context)
    assert (await client.say("EHLO client.example")).startswith("250")
    return client


def plain(user: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


async def test_a_client_past_its_failed_authentications_is_refused_for_a_while(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    credentials = Credentials({"bob": hash_password("pw", **CHEAP)})
    credentials.failures = FailureRate(2)
    async with door(tls=tls_pair[0], rules=SessionRules(credentials=credentials)) as d:
        client = await tls_client(d.port, tls_pair[1])
        assert (await client.say(plain("bob", "guess1"))).startswith("535")
        assert (await client.say(plain("bob", "guess2"))).startswith("535")
        assert (await client.say(plain("bob", "pw"))).startswith("421 4.7.0 ")
        assert await client.closed_by_server()
        # Per client, not per connection: a new one is refused too, the right password too.
        again = await tls_client(d.port, tls_pair[1])
        assert (await again.say(plain("bob", "pw"))).startswith("421 4.7.0 ")
        await wait_for(lambda: d.admission.open == 0, what="both closed")


async def test_a_successful_authentication_logs_no_deprecation_warning(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], caplog: pytest.LogCaptureFixture
) -> None:
    credentials = Credentials({"bob": hash_password("pw", **CHEAP)})
    caplog.set_level(logging.WARNING)
    async with door(tls=tls_pair[0], rules=SessionRules(credentials=credentials)) as d:
        client = await tls_client(d.port, tls_pair[1])
        assert (await client.say(plain("bob", "pw"))).startswith("235")
        client.close()
        await wait_for(lambda: d.admission.open == 0, what="the connection closed")
    assert "deprecated" not in caplog.text


async def test_password_checks_beyond_the_queue_are_answered_busy() -> None:
    credentials = Credentials({"bob": hash_password("pw")})  # the real cost: ~50 ms each
    checks = await asyncio.gather(*(credentials.check(b"bob", b"guess") for _ in range(40)))
    assert checks.count(None) > 0  # AUTH answers 454 4.7.0 for these
    assert checks.count(False) >= 2 and True not in checks


async def test_bodies_awaiting_hand_off_are_held_within_the_memory_budget() -> None:
    async with door(max_pending_bytes=len(MAIL) + 10) as d:
        d.recorded.release = asyncio.Event()
        first, _ = await Client.connect(d.port)
        await start_data(first)
        first.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the first hand-off waiting")
        # A declared size that would not fit: 451 before the 354, nothing transferred.
        declared, _ = await Client.connect(d.port)
        assert (await declared.say("EHLO client.example")).startswith("250")
        assert (await declared.say("MAIL FROM:<a@example.com> SIZE=500")).startswith("250")
        assert (await declared.say("RCPT TO:<support@mailroom.local>")).startswith("250")
        assert (await declared.say("DATA")).startswith("451 4.3.2 ")
        # Undeclared: the body is taken, and answered 451 after its dot.
        undeclared, _ = await Client.connect(d.port)
        await start_data(undeclared)
        undeclared.writer.write(b"Subject: big\r\n\r\n" + b"x" * 400 + b"\r\n.\r\n")
        assert (await undeclared.reply()).startswith("451 4.3.2 ")
        d.recorded.release.set()
        assert (await first.reply()).startswith("250 2.0.0 ")
        assert d.handler.pending_bytes == 0
        assert (await declared.say("DATA")).startswith("354")  # room again
        assert (await declared.say(MAIL.decode().removesuffix("\r\n"))).startswith("250")
        assert len(d.recorded.mails) == 2
        for client in (first, declared, undeclared):
            client.close()


async def test_an_idle_client_is_told_421_before_the_close() -> None:
    async with door(timeout=1) as d:
        client, _ = await Client.connect(d.port)
        assert (await client.reply()).startswith("421 4.4.2 ")
        assert await client.closed_by_server()
