"""The SMTP front door's limits, against the real listener (aiosmtpd on a free port) with raw
sockets: connections in all and per client, timeouts, recipients, new conversations a
minute, DATA transfers under way, and which local parts are mailboxes. Mail is handed to a
recording ingest (our own port), so no Temporal is needed to see the SMTP answers."""

from __future__ import annotations

import asyncio
import resource
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_admission import (
    Admission,
    AdmissionLimits,
    ClientRate,
    RecipientLimits,
    client_key,
    connection_cap,
    is_loopback,
    parse_networks,
)
from adapters.inbound.smtp_listener import serve_smtp
from adapters.inbound.smtp_session import SessionRules
from orchestrator import services
from orchestrator.settings import Settings
from tests.dovecot_tls import make_certificates
from tests.support import free_port, wait_for
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested
from use_cases.ports import IntakeMetrics

MAIL = b"Subject: hi\r\nMessage-ID: <m@example.com>\r\n\r\nhello\r\n.\r\n"


@dataclass
class Recorded:
    mails: list[tuple[bytes, list[str]]] = field(default_factory=list)
    release: asyncio.Event | None = None  # set: hand-offs wait for it

    async def ingest(self, raw: bytes, mailboxes: Sequence[str], sender: str | None) -> Ingested:
        if self.release is not None:
            await self.release.wait()
        self.mails.append((raw, list(mailboxes)))
        return Ingested(message_id="<m@example.com>", thread_ids=("thread-1",))


@dataclass
class Door:
    port: int
    admission: Admission
    recorded: Recorded


@asynccontextmanager
async def front_door(
    limits: AdmissionLimits | None = None,
    recipients: RecipientLimits | None = None,
    threads_per_minute: int = 0,
    timeout: float = 300.0,
    mailboxes: Mailboxes | None = None,
    rules: SessionRules | None = None,
    tls_context: ssl.SSLContext | None = None,
    metrics: IntakeMetrics | None = None,
) -> AsyncIterator[Door]:
    limits = limits or AdmissionLimits(rate_exempt=())
    recorded = Recorded()
    admission = Admission(limits)
    handler = SmtpInboundHandler(
        mailboxes or Mailboxes(["mailroom.local"]),
        recorded.ingest,
        recipient_limits=recipients,
        thread_rate=ClientRate(threads_per_minute, limits),
        metrics=metrics,
    )
    port = free_port()
    listener = await serve_smtp(
        handler,
        host="127.0.0.1",
        port=port,
        max_message_bytes=1024 * 1024,
        admission=admission,
        timeout=timeout,
        rules=rules,
        tls_context=tls_context,
    )
    try:
        yield Door(port, admission, recorded)
    finally:
        await listener.stop(timeout=5)


class Client:
    """One raw SMTP connection: a line out, the reply (all its lines) back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, source: str = "127.0.0.1") -> tuple[Client, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        client = cls(reader, writer)
        return client, await client.reply()

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def say(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""

    def close(self) -> None:
        self.writer.close()


async def transaction(client: Client, recipients: Sequence[str]) -> list[str]:
    answers = [await client.say("MAIL FROM:<alice@example.com>")]
    answers += [await client.say(f"RCPT TO:<{r}>") for r in recipients]
    return answers


async def test_above_the_connection_limit_421_and_again_after_others_close() -> None:
    limits = AdmissionLimits(max_connections=3, max_per_client=100, idle_shed_seconds=600)
    async with front_door(limits) as door:
        held = [await Client.connect(door.port) for _ in range(3)]
        assert all(greeting.startswith("220 ") for _, greeting in held)
        refused, answer = await Client.connect(door.port)
        assert answer.startswith("421 4.7.0 ") and "too many connections" in answer
        assert await refused.closed_by_server()
        held[0][0].close()
        await wait_for(lambda: door.admission.open == 2, what="a place freed")
        again, greeting = await Client.connect(door.port)
        assert greeting.startswith("220 ")
        assert (await again.say("EHLO client.example")).startswith("250")
        for client, _ in [*held[1:], (again, "")]:
            client.close()
        await wait_for(lambda: door.admission.open == 0, what="every place freed")


async def test_when_full_the_longest_idle_connection_gives_way_to_a_new_one() -> None:
    """A flood that connects and says nothing cannot keep a real sender out; a connection
    in a transaction is never the one shed."""
    limits = AdmissionLimits(max_connections=2, max_per_client=100, idle_shed_seconds=0.2)
    async with front_door(limits) as door:
        busy, _ = await Client.connect(door.port)
        await busy.say("EHLO client.example")
        assert (await busy.say("MAIL FROM:<alice@example.com>")).startswith("250")
        idle, _ = await Client.connect(door.port)
        newcomer, greeting = await wait_for(
            lambda: _greeted(door.port), what="a new connection served once one is idle"
        )
        assert greeting.startswith("220 ")
        assert (await idle.reply()).startswith("421 4.7.0 ") and await idle.closed_by_server()
        assert (await busy.say("RCPT TO:<support@mailroom.local>")) == "250 2.1.5 OK"
        for client in (busy, newcomer):
            client.close()


async def _greeted(port: int) -> tuple[Client, str] | None:
    client, greeting = await Client.connect(port)
    if greeting.startswith("220 "):
        return client, greeting
    client.close()
    return None


async def test_one_client_ip_is_limited_and_another_still_served() -> None:
    """Loopback too: the flood that found this came from 127.0.0.1."""
    async with front_door(AdmissionLimits(max_per_client=2)) as door:
        held = [await Client.connect(door.port) for _ in range(2)]
        _, answer = await Client.connect(door.port)
        assert answer.startswith("421 4.7.0 ") and "from 127.0.0.1" in answer
        other, greeting = await Client.connect(door.port, source="127.0.0.2")
        assert greeting.startswith("220 ")
        for client in [other, *(c for c, _ in held)]:
            client.close()


async def test_an_idle_client_is_disconnected_after_the_timeout() -> None:
    async with front_door(timeout=0.5) as door:
        client, _ = await Client.connect(door.port)
        assert (await client.say("EHLO client.example")).startswith("250")
        rest = await asyncio.wait_for(client.reader.read(), 10)  # to the server's close
        assert rest == b"" or rest.startswith(b"421 4.4.2 "), rest  # Postfix says why
        await wait_for(lambda: door.admission.open == 0, what="its place freed")


async def test_a_body_still_arriving_outlives_the_idle_timeout() -> None:
    # Postfix's smtpd_timeout bounds each read, not the transfer: a big mail on a slow link
    # takes longer than the timeout and is still received (aiosmtpd cut it at the timeout).
    async with front_door(timeout=1.0) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        await transaction(client, ["support@mailroom.local"])
        assert (await client.say("DATA")).startswith("354")
        client.writer.write(b"Subject: slow\r\n\r\n")
        for _ in range(6):  # 80 KB every 0.3 s (a slow link's pace): 1.8 s in all
            client.writer.write((b"x" * 998 + b"\r\n") * 80)
            await client.writer.drain()
            await asyncio.sleep(0.3)
        assert (await client.say(".")).startswith("250 ")
        assert len(door.recorded.mails) == 1


async def test_a_session_past_its_time_limit_is_answered_421_and_closed() -> None:
    limits = AdmissionLimits(session_seconds=0.5)
    async with front_door(limits) as door:
        client, _ = await Client.connect(door.port)
        assert (await client.say("EHLO client.example")).startswith("250")
        assert (await client.reply()).startswith("421 4.4.2 ")  # unasked: the deadline
        assert await client.closed_by_server()


async def test_recipients_beyond_the_limit_are_deferred_452() -> None:
    recipients = RecipientLimits(per_mail=100, mailboxes_per_mail=1, per_connection=150)
    async with front_door(recipients=recipients) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        # sub-addresses of one mailbox: many recipients, one hand-off
        answers = await transaction(client, [f"support+{n}@mailroom.local" for n in range(101)])
        assert answers[1:101] == ["250 2.1.5 OK"] * 100
        assert answers[101].startswith("452 4.5.3 ")
        assert (await client.say("DATA")).startswith("354")
        assert (await client.say(MAIL.decode().rstrip("\r\n"))).startswith("250 ")
        # the connection's 150 in all: 50 more, then 452
        answers = await transaction(client, [f"support+b{n}@mailroom.local" for n in range(51)])
        assert answers[1:51] == ["250 2.1.5 OK"] * 50
        assert answers[51].startswith("452 4.5.3 ") and "connection" in answers[51]
        client.close()
        assert door.recorded.mails[0][1] == ["support@mailroom.local"]


async def test_one_mail_feeds_a_bounded_number_of_mailboxes() -> None:
    """1 000 recipients at distinct mailboxes opened 1 000 threads; now 10 hand-offs at most."""
    async with front_door(recipients=RecipientLimits(mailboxes_per_mail=10)) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        answers = await transaction(client, [f"user{n}@mailroom.local" for n in range(12)])
        assert answers[1:11] == ["250 2.1.5 OK"] * 10
        assert all(a.startswith("452 4.5.3 ") for a in answers[11:])
        assert (await client.say("RCPT TO:<user3+again@mailroom.local>")) == "250 2.1.5 OK"
        assert (await client.say("DATA")).startswith("354")
        assert (await client.say(MAIL.decode().rstrip("\r\n"))).startswith("250 ")
        client.close()
        assert len(door.recorded.mails[0][1]) == 10


async def test_new_conversations_per_client_per_minute_are_deferred_450() -> None:
    async with front_door(threads_per_minute=3) as door:  # loopback not exempt here
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        answers = await transaction(client, ["a@mailroom.local", "b@mailroom.local"])
        assert answers[1:] == ["250 2.1.5 OK"] * 2
        await client.say("RSET")
        answers = await transaction(client, ["c@mailroom.local", "d@mailroom.local"])
        assert answers[1] == "250 2.1.5 OK"
        assert answers[2].startswith("450 4.7.1 ") and "127.0.0.1" in answers[2]
        client.close()


async def test_data_transfers_beyond_the_limit_are_deferred_before_the_body() -> None:
    limits = AdmissionLimits(max_data_transfers=1)
    async with front_door(limits) as door:
        door.recorded.release = asyncio.Event()
        first, _ = await Client.connect(door.port)
        second, _ = await Client.connect(door.port)
        for client in (first, second):
            await client.say("EHLO client.example")
            await transaction(client, ["support@mailroom.local"])
        assert (await first.say("DATA")).startswith("354")
        first.writer.write(MAIL)  # its hand-off waits: the transfer is still under way
        await wait_for(lambda: door.admission.transfers.under_way == 1, what="one transfer")
        assert (await second.say("DATA")).startswith("451 4.3.2 ")
        door.recorded.release.set()
        assert (await first.reply()).startswith("250 ")
        assert (await second.say("DATA")).startswith("354"), "a place again"
        for client in (first, second):
            client.close()


async def test_postmaster_is_accepted_and_odd_local_parts_are_not() -> None:
    boxes = Mailboxes(["mailroom.local"], ["support@mailroom.local"])
    async with front_door(mailboxes=boxes) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        answers = await transaction(
            client,
            [
                "postmaster",
                "PostMaster@mailroom.local",
                "../../etc@mailroom.local",
                '"user@evil.com"@mailroom.local',
                "sales@mailroom.local",
            ],
        )
        assert answers[1:3] == ["250 2.1.5 OK"] * 2
        assert all(a.startswith("550 5.1.1 ") for a in answers[3:])
        assert (await client.say("DATA")).startswith("354")
        assert (await client.say(MAIL.decode().rstrip("\r\n"))).startswith("250 ")
        client.close()
        assert door.recorded.mails[0][1] == ["postmaster@mailroom.local"]


def test_the_connection_cap_stays_well_below_the_descriptor_limit() -> None:
    assert connection_cap(1000, 1024) == 768
    assert connection_cap(1000, 65_536) == 1000
    assert connection_cap(1000, 200) == 100
    assert connection_cap(10, 1024) == 10


async def test_a_local_relay_is_not_held_to_the_rate_of_new_conversations() -> None:
    """Behind a local MTA every sender is 127.0.0.1: the rate would throttle them all."""
    limits = AdmissionLimits(rate_exempt=parse_networks(["127.0.0.0/8", "::1"]))
    async with front_door(limits, threads_per_minute=1) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO relay.example")
        answers = await transaction(client, [f"user{n}@mailroom.local" for n in range(5)])
        assert answers[1:] == ["250 2.1.5 OK"] * 5
        client.close()


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one_at_start() -> None:
    """In a child with `ulimit -Sn 1024 -Hn 4096`, as systemd sets them (this process keeps
    its own)."""

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))

    probe = "from adapters.inbound.smtp_admission import raise_descriptor_limit as r; print(r())"
    done = subprocess.run(
        [sys.executable, "-c", probe], preexec_fn=limited, capture_output=True, text=True
    )
    assert done.stdout.strip() == "4096", done.stderr


async def test_the_settings_reach_the_front_door() -> None:
    settings = Settings(
        smtp_max_connections=7,
        smtp_max_connections_per_client=3,
        smtp_max_data_transfers=2,
        smtp_session_limit=timedelta(minutes=5),
        smtp_max_recipients=150,
        smtp_max_mailboxes_per_mail=4,
        smtp_max_recipients_per_connection=500,
        smtp_threads_per_client_per_minute=9,
        smtp_rate_exceptions=["10.0.0.0/8"],
        smtp_client_ipv6_prefix_length=64,
    )
    admission, recipients, rate = services.front_door(settings)
    assert admission.limits.max_connections == 7 and admission.limits.max_per_client == 3
    assert admission.transfers.limit == 2 and admission.limits.session_seconds == 300
    assert recipients == RecipientLimits(per_mail=150, mailboxes_per_mail=4, per_connection=500)
    assert rate.per_minute == 9
    assert admission.limits.is_rate_exempt("10.1.2.3")
    assert not admission.limits.is_rate_exempt("127.0.0.1")
    assert admission.limits.client("2001:db8:0:1:2:3:4:5") == "2001:db8:0:1::/64"


async def test_a_connection_silent_inside_a_transaction_gives_way_when_full() -> None:
    """EHLO and one MAIL FROM, then silence, kept the place for the whole idle timeout (300 s):
    20 addresses x 50 such connections kept real mail out."""
    limits = AdmissionLimits(
        max_connections=2,
        max_per_client=100,
        idle_shed_seconds=0.2,
        transaction_idle_shed_seconds=0.5,
    )
    async with front_door(limits) as door:
        silent = []
        for source in ("127.0.0.10", "127.0.0.11"):
            client, _ = await Client.connect(door.port, source=source)
            await client.say("EHLO attacker.example")
            assert (await client.say("MAIL FROM:<>")).startswith("250")
            silent.append(client)
        newcomer, greeting = await wait_for(
            lambda: _greeted(door.port), what="a new connection served once one is silent"
        )
        assert greeting.startswith("220 ")
        assert (await silent[0].reply()).startswith("421 4.7.0 "), "the longest silent gave way"
        assert await silent[0].closed_by_server()
        for client in (silent[1], newcomer):
            client.close()


async def test_a_connection_in_its_greeting_pause_is_not_shed_as_idle() -> None:
    limits = AdmissionLimits(max_connections=1, max_per_client=100, idle_shed_seconds=0.0)
    async with front_door(limits, rules=SessionRules(greet_pause_seconds=0.5)) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        await wait_for(lambda: door.admission.open == 1, what="the first connection admitted")
        _, answer = await Client.connect(door.port)
        assert answer.startswith("421 4.7.0 ") and "too many connections" in answer
        first = Client(reader, writer)
        assert (await first.reply()).startswith("220 "), "greeted after its pause, not shed"
        first.close()


async def test_too_many_errors_are_answered_421_and_the_connection_closed() -> None:
    """Postfix's smtpd_hard_error_limit (20): 200 bad commands were all answered."""
    async with front_door() as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        client.writer.write(b"RCPT TO:<x>\r\n" * 200)
        errors = [await client.reply() for _ in range(20)]
        assert all(e[:1] == "5" for e in errors), errors
        assert await client.reply() == "421 4.7.0 Error: too many errors"
        assert await client.closed_by_server()

        client, _ = await Client.connect(door.port)  # empty lines are errors too
        client.writer.write(b"\r\n" * 50)
        assert [(await client.reply())[:3] for _ in range(20)] == ["500"] * 20
        assert (await client.reply()).startswith("421 4.7.0 ")
        assert await client.closed_by_server()
        await wait_for(lambda: door.admission.open == 0, what="their places freed")


async def test_recipients_past_a_limit_are_no_errors_that_count() -> None:
    """452 4.5.3 asks for the rest in another transaction (Postfix: recipient overshoot)."""
    async with front_door(recipients=RecipientLimits(per_mail=100)) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        answers = await transaction(client, [f"support+{n}@mailroom.local" for n in range(130)])
        assert all(a.startswith("452 4.5.3 ") for a in answers[101:])
        assert (await client.say("DATA")).startswith("354")
        assert (await client.say(MAIL.decode().rstrip("\r\n"))).startswith("250 ")
        client.close()


async def test_starttls_does_not_restart_the_recipients_per_connection(tmp_path: Path) -> None:
    """aiosmtpd makes a new Session at STARTTLS: the count is kept per connection instead."""
    tls = make_certificates(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tls.cert, tls.key)
    client_tls = ssl.create_default_context(cafile=str(tls.ca))
    client_tls.check_hostname = False
    async with front_door(
        recipients=RecipientLimits(per_connection=2), tls_context=server_tls
    ) as door:
        client, _ = await Client.connect(door.port)
        await client.say("EHLO client.example")
        answers = await transaction(client, ["a@mailroom.local", "b@mailroom.local"])
        assert answers[1:] == ["250 2.1.5 OK"] * 2
        assert (await client.say("STARTTLS")).startswith("220")
        await client.writer.start_tls(client_tls)
        await client.say("EHLO client.example")
        answers = await transaction(client, ["c@mailroom.local"])
        assert answers[1].startswith("452 4.5.3 ") and "connection" in answers[1]
        client.close()


async def test_one_client_holds_at_most_a_quarter_of_the_data_transfers() -> None:
    limits = AdmissionLimits(max_data_transfers=4, max_per_client=100, rate_exempt=())
    async with front_door(limits) as door:
        door.recorded.release = asyncio.Event()
        first, _ = await Client.connect(door.port)
        second, _ = await Client.connect(door.port)
        other, _ = await Client.connect(door.port, source="127.0.0.2")
        for client in (first, second, other):
            await client.say("EHLO client.example")
            await transaction(client, ["support@mailroom.local"])
        assert (await first.say("DATA")).startswith("354")
        assert (await second.say("DATA")).startswith("451 4.3.2 "), "its one place is taken"
        assert (await other.say("DATA")).startswith("354"), "another client still served"
        door.recorded.release.set()
        for client in (first, second, other):
            client.close()


def test_an_ipv6_client_is_one_client_across_its_prefix() -> None:
    """A /64 holds 2^64 addresses: keyed on the exact one, one host had unlimited connections.
    Keyed on its first 84 bits, as Postfix 3.8+ (smtpd_client_ipv6_prefix_length)."""
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:3:fff:ffff:ffff")
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2:3::/84"
    assert client_key("2001:db8:1:2:3:4:5:6") != client_key("2001:db8:1:3::1")
    admission = Admission(AdmissionLimits(max_per_client=1))
    assert admission.admit("2001:db8::1", "mailroom", _Silent()) is None
    refused = admission.admit("2001:db8::2", "mailroom", _Silent())
    assert refused is not None and refused.startswith("421 4.7.0 ")
    rate = ClientRate(1, AdmissionLimits(rate_exempt=()))
    assert rate.take("2001:db8::1") and not rate.take("2001:db8::ffff")


def test_an_ipv4_client_on_a_dual_stack_listener_is_itself() -> None:
    """`::ffff:127.0.0.1` is 127.0.0.1: rate-exempt, loopback, and counted with it."""
    limits = AdmissionLimits()
    assert limits.is_rate_exempt("::ffff:127.0.0.1")
    assert is_loopback("::ffff:127.0.0.1"), "a held sender's loopback exemption (smtp.py)"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    admission = Admission(AdmissionLimits(max_per_client=1))
    assert admission.admit("192.0.2.7", "mailroom", _Silent()) is None
    assert admission.admit("::ffff:192.0.2.7", "mailroom", _Silent()) is not None


class _Silent:
    """A connection as admission sees it (our own Connection protocol)."""

    def idle_seconds(self) -> float | None:
        return None

    def in_transaction(self) -> bool:
        return False

    def shed(self, reply: str) -> None:
        raise AssertionError("not idle: never shed")
