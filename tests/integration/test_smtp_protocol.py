"""The SMTP front door's protocol rules over raw sockets: pipelining only as RFC 2920 allows
it, early talkers refused, bare <LF> refused, the 2023 SMTP smuggling variants yielding one
message or a refusal (never two), and DATA spooled to disk and gone on every path.

A real listener (`serve_smtp`: aiosmtpd with MailroomSMTP and our handler) on a free port;
the hand-off after it is recorded instead of reaching Temporal: what is under test is which
bytes the protocol hands on, and how many times."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_data import BareLf, Spool
from adapters.inbound.smtp_listener import SmtpListener, serve_smtp
from adapters.inbound.smtp_session import SessionRules
from tests.support import free_port, wait_for
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested

SUPPORT = "support@mailroom.local"
MAX_MESSAGE_BYTES = 300_000
SPOOL_MEMORY_BYTES = 4096
TIMEOUT = 10.0


@dataclass
class Front:
    port: int
    spool_dir: Path
    received: list[bytes] = field(default_factory=list)

    async def connect(self, *, greeting: bool = True) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        client = RawClient(reader, writer)
        if greeting:
            assert (await client.reply()).startswith("220 ")
        return client

    def spool_files_open(self) -> list[str]:
        """Open descriptors of this process on files in the spool directory (the spool's
        files have no name on disk, so an open descriptor is the only trace of one)."""
        found: list[str] = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(self.spool_dir)):
                found.append(target)
        return found


@dataclass
class RawClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> str:
        """One whole reply (the last line of a multi-line one names the code)."""
        lines: list[str] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
            assert line, f"connection closed, replies so far: {lines}"
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def replies(self, count: int) -> list[str]:
        return [await self.reply() for _ in range(count)]

    async def closed(self) -> bool:
        """Whether the server closed the connection (nothing more is sent before EOF)."""
        rest = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        assert rest == b"", f"unexpected data before close: {rest!r}"
        return True

    async def rest_until_closed(self) -> list[str]:
        data = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        return [line for line in data.decode(errors="replace").split("\r\n") if line]

    def close(self) -> None:
        self.writer.close()


async def start_front(tmp_path: Path, rules: SessionRules) -> tuple[Front, SmtpListener]:
    front = Front(port=free_port(), spool_dir=tmp_path / "tmp")

    async def record(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        front.received.append(raw)
        return Ingested(message_id=f"<m{len(front.received)}@test>", thread_ids=("t",))

    handler = SmtpInboundHandler(Mailboxes(["mailroom.local"]), record)
    listener = await serve_smtp(
        handler,
        host="127.0.0.1",
        port=front.port,
        max_message_bytes=MAX_MESSAGE_BYTES,
        rules=rules,
    )
    return front, listener


@pytest.fixture
async def front(tmp_path: Path) -> AsyncIterator[Front]:
    rules = SessionRules(spool=Spool(tmp_path / "tmp", memory_bytes=SPOOL_MEMORY_BYTES))
    front, listener = await start_front(tmp_path, rules)
    yield front
    await listener.stop(timeout=5)


@pytest.fixture
async def normalizing_front(tmp_path: Path) -> AsyncIterator[Front]:
    """MAILROOM_SMTP_BARE_LF=normalize: a bare <LF> is taken as <CR><LF>."""
    spool = Spool(tmp_path / "tmp", memory_bytes=SPOOL_MEMORY_BYTES)
    front, listener = await start_front(tmp_path, SessionRules(spool, bare_lf=BareLf.NORMALIZE))
    yield front
    await listener.stop(timeout=5)


ENVELOPE = f"MAIL FROM:<a@example.com>\r\nRCPT TO:<{SUPPORT}>\r\n".encode()


async def begin(client: RawClient) -> None:
    await client.send(b"EHLO client.example\r\n")
    ehlo = await client.reply()
    assert "PIPELINING" in ehlo.splitlines()[-2]
    await client.send(ENVELOPE + b"DATA\r\n")
    assert [r[:3] for r in await client.replies(3)] == ["250", "250", "354"]


# -- pipelining (RFC 2920) and early talkers ------------------------------------------------


async def test_pipelining_is_advertised_and_a_pipelined_transaction_is_accepted(
    front: Front,
) -> None:
    client = await front.connect()
    await begin(client)  # MAIL, RCPT and DATA in one write: DATA last, as RFC 2920 allows
    # the body's end and the next transaction may share a write (the body starts a group)
    await client.send(b"Subject: one\r\n\r\nhello\r\n.\r\n" + ENVELOPE + b"DATA\r\n")
    assert [r[:3] for r in await client.replies(4)] == ["250", "250", "250", "354"]
    await client.send(b"Subject: two\r\n\r\nagain\r\n.\r\nQUIT\r\n")
    assert [r[:3] for r in await client.replies(2)] == ["250", "221"]
    assert [raw.split(b"\r\n")[0] for raw in front.received] == [
        b"Subject: one",
        b"Subject: two",
    ]


async def test_a_body_sent_before_354_is_refused_and_never_accepted(front: Front) -> None:
    client = await front.connect()
    await client.send(b"EHLO client.example\r\n")
    await client.reply()
    await client.send(ENVELOPE + b"DATA\r\nSubject: early\r\n\r\nbody\r\n.\r\n")
    assert [r[:3] for r in await client.replies(2)] == ["250", "250"]
    assert (await client.reply()).startswith("554 5.5.0")
    assert await client.closed()
    assert front.received == []


@pytest.mark.parametrize(
    "greeting_then",
    [
        b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n",  # EHLO ends a group
        b"EHLO client.example\r\nNOOP\r\n",
        b"HELO client.example\r\nMAIL FROM:<a@example.com>\r\n",
    ],
    ids=["after-ehlo", "noop-after-ehlo", "after-helo"],
)
async def test_commands_sent_before_a_group_ending_reply_are_refused(
    front: Front, greeting_then: bytes
) -> None:
    client = await front.connect()
    await client.send(greeting_then)
    assert (await client.reply()).startswith("554 5.5.0")
    assert await client.closed()


async def test_without_ehlo_nothing_is_pipelined(front: Front) -> None:
    client = await front.connect()
    await client.send(b"HELO client.example\r\n")
    assert (await client.reply()).startswith("250")
    await client.send(ENVELOPE)  # MAIL and RCPT together: PIPELINING was never offered
    assert (await client.reply()).startswith("554 5.5.0")
    assert await client.closed()


async def test_a_client_talking_before_the_greeting_is_refused(tmp_path: Path) -> None:
    rules = SessionRules(spool=Spool(tmp_path / "tmp"), greet_pause_seconds=0.5)
    front, listener = await start_front(tmp_path, rules)
    try:
        early = await front.connect(greeting=False)
        await early.send(b"EHLO spammer.example\r\n")  # at once, without waiting for 220
        assert (await early.reply()).startswith("554 5.5.1")
        assert await early.closed()
        patient = await front.connect()  # waits for the 220 first
        await patient.send(b"EHLO client.example\r\n")
        assert (await patient.reply()).startswith("250")
        patient.close()
    finally:
        await listener.stop(timeout=5)


# -- bare <LF> and SMTP smuggling ------------------------------------------------------------

SMUGGLED = (
    f"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<{SUPPORT}>\r\nDATA\r\n".encode()
    + b"Subject: smuggled\r\n\r\nwire the money\r\n"
)
# The end-of-data sequences of the 2023 SMTP smuggling research (SEC Consult) and variants.
SMUGGLING_ENDS = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\n",
    b"\r.\r\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\r.\r",
    b"\n.\r",
    b"\r\n\x00.\r\n",
]


@pytest.mark.parametrize("fake_end", SMUGGLING_ENDS, ids=repr)
async def test_a_smuggled_message_never_becomes_a_second_message(
    front: Front, fake_end: bytes
) -> None:
    client = await front.connect()
    await begin(client)
    await client.send(b"Subject: first\r\n\r\nhello" + fake_end + SMUGGLED + b".\r\nQUIT\r\n")
    replies = await client.rest_until_closed()
    data_replies = [r for r in replies if r[:1] in {"2", "4", "5"} and not r.startswith("221")]
    assert len(data_replies) == 1, f"one answer to the one DATA, got {replies}"
    bare_lf = fake_end.replace(b"\r\n", b"").count(b"\n") > 0
    if bare_lf:
        assert data_replies[0].startswith("550 5.5.2"), replies
        assert front.received == []
    else:
        assert data_replies[0].startswith("250"), replies
        assert len(front.received) == 1
        assert b"wire the money" in front.received[0], "the smuggled part stays inside"


@pytest.mark.parametrize("fake_end", SMUGGLING_ENDS, ids=repr)
async def test_normalizing_bare_lf_still_yields_exactly_one_message(
    normalizing_front: Front, fake_end: bytes
) -> None:
    client = await normalizing_front.connect()
    await begin(client)
    await client.send(b"Subject: first\r\n\r\nhello" + fake_end + SMUGGLED + b".\r\nQUIT\r\n")
    replies = await client.rest_until_closed()
    assert [r[:3] for r in replies] == ["250", "221"], replies
    assert len(normalizing_front.received) == 1
    assert b"wire the money" in normalizing_front.received[0]


async def test_normalizing_takes_a_bare_lf_as_the_end_of_a_line(normalizing_front: Front) -> None:
    client = await normalizing_front.connect()
    await begin(client)
    # as smtplib sends a file with <LF> line ends: one "line" longer than 1 000 octets,
    # dot-stuffed after each <LF>
    body = b"Subject: lf\n\n" + b"a line of text\n" * 100 + b"..dot\n" + b"end\r\n"
    await client.send(body + b".\r\n")
    assert (await client.reply()).startswith("250")
    expected = b"Subject: lf\r\n\r\n" + b"a line of text\r\n" * 100 + b".dot\r\nend\r\n"
    assert normalizing_front.received == [expected]


async def test_a_bare_lf_in_data_is_refused_with_a_clear_5xx(front: Front) -> None:
    client = await front.connect()
    await begin(client)
    await client.send(b"Subject: lf\n\nbody\r\n.\r\n")
    assert (await client.reply()) == "550 5.5.2 Error: bare <LF> received"
    assert await client.closed()
    assert front.received == []


async def test_a_bare_cr_is_content_and_dots_are_unstuffed(front: Front) -> None:
    client = await front.connect()
    await begin(client)
    await client.send(b"Subject: cr\r\n\r\na\rb\r\n..leading dot\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    assert front.received == [b"Subject: cr\r\n\r\na\rb\r\n.leading dot\r\n"]


# -- DATA spooled to disk --------------------------------------------------------------------


def big_body(size: int) -> bytes:
    line = b"." + b"x" * 76 + b"\r\n"  # every line dot-stuffed: unstuffing is checked too
    return b"Subject: big\r\n\r\n" + line * (size // len(line))


async def test_a_big_message_is_spooled_and_arrives_intact(front: Front) -> None:
    body = big_body(250_000)
    client = await front.connect()
    await begin(client)
    await client.send(body[:100_000])
    assert await wait_for(front.spool_files_open, what="the body spooled to a file")
    await client.send(body[100_000:] + b".\r\n")
    assert (await client.reply()).startswith("250")
    assert front.received == [body.replace(b"\r\n.", b"\r\n")]
    assert front.spool_files_open() == []
    assert list(front.spool_dir.iterdir()) == []


async def test_a_transfer_cut_off_leaves_no_spool_file(front: Front) -> None:
    client = await front.connect()
    await begin(client)
    await client.send(big_body(100_000))
    await wait_for(front.spool_files_open, what="the body spooled to a file")
    client.writer.transport.abort()  # a reset, mid-DATA
    await wait_for(lambda: not front.spool_files_open(), what="the spool file closed")
    assert list(front.spool_dir.iterdir()) == []
    assert front.received == []


async def test_a_message_over_the_size_limit_is_refused_and_its_spool_file_goes(
    front: Front,
) -> None:
    client = await front.connect()
    await begin(client)
    await client.send(big_body(MAX_MESSAGE_BYTES + 50_000) + b".\r\n")
    assert (await client.reply()).startswith("552")
    assert front.spool_files_open() == []
    # the connection goes on: the next transaction is accepted
    await client.send(ENVELOPE + b"DATA\r\n")
    assert [r[:3] for r in await client.replies(3)] == ["250", "250", "354"]
    await client.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    assert len(front.received) == 1


async def test_a_line_over_1000_octets_is_refused_after_the_final_dot(front: Front) -> None:
    client = await front.connect()
    await begin(client)
    await client.send(b"Subject: long\r\n\r\n" + b"y" * 5_000 + b"\r\nend\r\n.\r\n")
    assert (await client.reply()).startswith("500")
    assert front.received == []
    assert front.spool_files_open() == []
