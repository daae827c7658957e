"""How the SMTP listener lets go, against the real listener with raw sockets: a client that
stops reading our replies, a stop whose hand-offs outlast its timeout, a stop with two
listeners, the idle timer while the client waits on us or trickles a body, and the places
a client keeps while its hand-off runs."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from adapters.inbound.smtp_admission import AdmissionLimits
from adapters.inbound.smtp_listener import serve_smtp
from tests.fakes import FakeBackpressure
from tests.support import free_port, wait_for
from tests.unit.test_smtp_admission import MAIL, Client
from tests.unit.test_smtp_robustness import door, reset, start_data


def server_sockets(port: int) -> int:
    """Connected sockets of this process whose local port is `port`: the server's side."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = fields[3] == "0A"
            if local_port == port and not listening and fields[9] in ours:
                count += 1
    return count


async def non_reader(port: int) -> tuple[socket.socket, asyncio.Future[None]]:
    """A client that pipelines RSETs (each answered 250, no error) and reads no reply: the
    server's replies fill the socket's buffers and its writes wait."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, b"EHLO client.example\r\n")
    answers = b""
    while b"\r\n250 " not in answers:  # EHLO answered: RSETs may be pipelined now
        answers += await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
    sending = asyncio.ensure_future(loop.sock_sendall(sock, b"RSET\r\n" * 2_000_000))
    sending.add_done_callback(lambda done: done.cancelled() or done.exception())  # reset
    return sock, sending


def stuck_writing(listener_sessions: object) -> bool:
    return any(
        session.transport is not None and session.transport.get_write_buffer_size() > 0
        for session in listener_sessions  # type: ignore[attr-defined]
    )


async def test_a_client_that_reads_no_reply_leaves_no_open_socket_after_the_timeout() -> None:
    async with door(timeout=1) as d:
        clients = [await non_reader(d.port) for _ in range(3)]
        await wait_for(lambda: stuck_writing(d.listener.sessions), what="replies unread")
        # close() waits to flush replies nobody reads: the socket stayed open for ever,
        # its place given back (so uncounted), a descriptor each.
        await wait_for(
            lambda: server_sockets(d.port) == 0 and d.admission.open == 0,
            timeout=15,
            what="every server socket closed",
        )
        for sock, sending in clients:
            sending.cancel()
            sock.close()


async def test_stop_leaves_no_socket_of_a_client_that_reads_no_reply() -> None:
    async with door() as d:  # the idle timeout (300 s) is far off
        sock, sending = await non_reader(d.port)
        await wait_for(lambda: stuck_writing(d.listener.sessions), what="replies unread")
        # From Python 3.12, Server.wait_closed waits for this socket: stop() hung for ever.
        await asyncio.wait_for(d.listener.stop(timeout=3), 10)
        assert server_sockets(d.port) == 0
        sending.cancel()
        sock.close()


async def test_a_hand_off_past_the_stop_timeout_is_cancelled_before_stop_returns() -> None:
    async with door() as d:
        d.recorded.release = asyncio.Event()  # the hand-off never ends by itself
        client, _ = await Client.connect(d.port)
        await start_data(client)
        client.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        await asyncio.wait_for(d.listener.stop(timeout=0.5), 10)
        # Nothing of it runs once stop() returned: the stores close right after.
        assert d.handler.in_flight == 0 and d.handler.pending_bytes == 0
        d.recorded.release.set()
        assert (await client.reply()).startswith("451 4.3.2 ")  # not 250: it retries
        assert d.recorded.mails == []


async def test_stopping_one_listener_closes_the_other_sharing_its_handler_first() -> None:
    async with door() as d:
        port = free_port()
        submission = await serve_smtp(
            d.handler,
            host="127.0.0.1",
            port=port,
            max_message_bytes=1024 * 1024,
            admission=d.admission,
        )
        d.recorded.release = asyncio.Event()
        client, _ = await Client.connect(d.port)
        await start_data(client)
        client.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        stopping = asyncio.ensure_future(d.listener.stop(timeout=10))
        # While the hand-off finishes, neither listener takes new connections.
        await wait_for(lambda: not submission.server.is_serving(), what="submission closed")
        assert not stopping.done()
        d.recorded.release.set()
        await asyncio.wait_for(stopping, 10)
        assert (await client.reply()).startswith("250 2.0.0 ")
        await asyncio.wait_for(submission.stop(timeout=10), 1)  # stopped already: at once


async def test_a_body_sent_before_the_354_while_transfers_are_full_is_never_commands() -> None:
    async with door(limits=AdmissionLimits(rate_exempt=(), max_data_transfers=1)) as d:
        d.recorded.release = asyncio.Event()
        first, _ = await Client.connect(d.port)
        await start_data(first)
        first.writer.write(MAIL)  # holds the one DATA place during its hand-off
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        second, _ = await Client.connect(d.port)
        assert (await second.say("EHLO client.example")).startswith("250")
        assert (await second.say("MAIL FROM:<alice@example.com>")).startswith("250")
        assert (await second.say("RCPT TO:<support@mailroom.local>")).startswith("250")
        second.writer.write(
            b"DATA\r\nRSET\r\nMAIL FROM:<ceo@victim.example>\r\n"
            b"RCPT TO:<support@mailroom.local>\r\nNOOP\r\n.\r\n"
        )
        answers = (await asyncio.wait_for(second.reader.read(), 10)).decode()
        assert answers.startswith("554 5.5.0 "), answers
        assert "250" not in answers  # no line of the body answered as a command
        d.recorded.release.set()
        assert (await first.reply()).startswith("250 2.0.0 ")


async def test_the_idle_timer_waits_while_the_client_waits_on_its_hand_off() -> None:
    async with door(timeout=1) as d:
        d.recorded.release = asyncio.Event()
        client, _ = await Client.connect(d.port)
        await start_data(client)
        client.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        # A hand-off twice as long as the idle timeout: the client was told 421 4.4.2
        # while waiting on us, then retried a mail we had kept.
        asyncio.get_running_loop().call_later(2.0, d.recorded.release.set)
        assert (await client.reply()).startswith("250 2.0.0 ")
        assert (await client.say("NOOP")).startswith("250")  # and the session goes on
        client.close()


async def test_the_idle_timer_waits_while_a_sender_is_held_at_mail() -> None:
    backlog = FakeBackpressure(overloaded=True)
    async with door(timeout=1, backlog=backlog) as d:
        client, _ = await Client.connect(d.port)
        assert (await client.say("EHLO client.example")).startswith("250")
        client.writer.write(b"MAIL FROM:<alice@example.com>\r\n")
        await wait_for(lambda: backlog.waiting == 1, what="the sender held")
        # Held twice as long as the idle timeout: it was told 421 4.4.2 while waiting on us.
        asyncio.get_running_loop().call_later(2.0, backlog.clear)
        assert (await client.reply()).startswith("250 2.1.0 ")
        assert (await client.say("RCPT TO:<support@mailroom.local>")).startswith("250")
        client.close()


async def test_a_small_body_trickling_in_past_the_idle_timeout_is_taken() -> None:
    async with door(timeout=2) as d:
        client, _ = await Client.connect(d.port)
        await start_data(client)
        # A line every half second (the pace is the client's, not a wait for something),
        # 3 s in all: each read is within the timeout, the body never reaches 64 KB.
        client.writer.write(b"Subject: slow\r\nMessage-ID: <m@example.com>\r\n\r\n")
        for _ in range(6):
            await asyncio.sleep(0.5)
            client.writer.write(b"a line\r\n")
        client.writer.write(b".\r\n")
        assert (await client.reply()).startswith("250 2.0.0 ")
        assert len(d.recorded.mails) == 1
        client.close()


async def test_a_hand_off_whose_client_left_keeps_its_data_place_until_it_ends() -> None:
    # A quarter of 4 places: one DATA at a time for this client.
    async with door(limits=AdmissionLimits(rate_exempt=(), max_data_transfers=4)) as d:
        d.recorded.release = asyncio.Event()
        gone, _ = await Client.connect(d.port)
        await start_data(gone)
        gone.writer.write(MAIL)
        await wait_for(lambda: d.handler.in_flight == 1, what="the hand-off under way")
        reset(gone)  # its hand-off runs on: it must still count against this client
        await wait_for(lambda: d.admission.open == 0, what="the connection lost")
        again, _ = await Client.connect(d.port)
        assert (await again.say("EHLO client.example")).startswith("250")
        assert (await again.say("MAIL FROM:<alice@example.com>")).startswith("250")
        assert (await again.say("RCPT TO:<support@mailroom.local>")).startswith("250")
        assert (await again.say("DATA")).startswith("451 4.3.2 ")
        d.recorded.release.set()
        await wait_for(lambda: d.admission.transfers.under_way == 0, what="the place back")
        assert (await again.say("DATA")).startswith("354")
        assert (await again.say(MAIL.decode().removesuffix("\r\n"))).startswith("250 2.0.0 ")
        assert len(d.recorded.mails) == 2
        again.close()
