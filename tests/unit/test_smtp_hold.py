"""How long the SMTP handler holds a sender while the backlog is behind, how many, and how
it stops: held senders are answered, hand-offs in flight finish first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from adapters.inbound.smtp import BACKLOGGED, SHUTTING_DOWN, Ingest, SmtpInboundHandler
from tests.fakes import FakeBackpressure
from tests.support import wait_for
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested


async def never_called(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
    raise AssertionError("no mail is handed off in these tests")


def handler(
    backlog: FakeBackpressure, *, hold: float, max_held: int = 10, ingest: Ingest = never_called
) -> SmtpInboundHandler:
    return SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        ingest,
        backlog=backlog,
        backlog_hold_seconds=hold,
        max_held=max_held,
    )


async def mail_from(smtp: SmtpInboundHandler, host: str = "192.0.2.1") -> str:
    session = Session(asyncio.get_running_loop())
    session.peer = host  # typed str by aiosmtpd; a (host, port) tuple on a real socket
    return await smtp.handle_MAIL(cast(SMTP, None), session, Envelope(), "a@example.com", [])


async def data(smtp: SmtpInboundHandler) -> str:
    envelope = Envelope()
    envelope.mail_from, envelope.rcpt_tos = "a@example.com", ["support@mailroom.local"]
    envelope.original_content = b"Subject: hi\r\nMessage-ID: <m@example.com>\r\n\r\nhello\r\n"
    return await smtp.handle_DATA(cast(SMTP, None), Session(asyncio.get_running_loop()), envelope)


async def test_past_the_hold_the_sender_is_deferred() -> None:
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await mail_from(smtp) == BACKLOGGED
    assert loop.time() - began >= 0.2, "held for the hold first"
    assert smtp.held == 0 and backlog.waiting == 0


async def test_a_body_already_sent_is_not_held_but_deferred_at_once() -> None:
    smtp = handler(FakeBackpressure(overloaded=True), hold=60)
    assert await asyncio.wait_for(data(smtp), 1) == BACKLOGGED


async def test_stopping_answers_held_senders_and_refuses_new_mail() -> None:
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=60)
    held = asyncio.create_task(mail_from(smtp))
    await wait_for(lambda: backlog.waiting == 1, what="a sender held")
    await asyncio.wait_for(smtp.stop(timeout=5), 1)
    assert await held == SHUTTING_DOWN
    backlog.clear()
    assert await mail_from(smtp) == SHUTTING_DOWN
    assert await data(smtp) == SHUTTING_DOWN


async def test_stopping_waits_for_the_hand_off_in_flight() -> None:
    release = asyncio.Event()

    async def slow_ingest(raw: bytes, mailboxes: Sequence[str], sender: str | None) -> Ingested:
        await release.wait()
        return Ingested(message_id="<m@example.com>", thread_ids=("thread-1",))

    smtp = handler(FakeBackpressure(), hold=60, ingest=slow_ingest)
    answer = asyncio.create_task(data(smtp))
    await wait_for(lambda: smtp.in_flight == 1, what="a hand-off in flight")
    stopping = asyncio.create_task(smtp.stop(timeout=5))
    await wait_for(lambda: _refuses_new_mail(smtp), what="the handler to be stopping")
    assert not stopping.done(), "stop waits for the hand-off"
    release.set()
    await asyncio.wait_for(stopping, 1)
    assert (await answer).startswith("250 "), "its sender got its answer"


async def _refuses_new_mail(smtp: SmtpInboundHandler) -> bool:
    return await mail_from(smtp) == SHUTTING_DOWN


async def test_senders_beyond_the_held_limit_are_deferred_at_once() -> None:
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=60, max_held=2)
    held = [asyncio.create_task(mail_from(smtp, f"192.0.2.{n}")) for n in (1, 2)]
    await wait_for(lambda: backlog.waiting == 2, what="two senders held")
    assert await asyncio.wait_for(mail_from(smtp, "192.0.2.3"), 1) == BACKLOGGED
    backlog.clear()
    assert await asyncio.gather(*held) == ["250 2.1.0 OK", "250 2.1.0 OK"]
    assert smtp.held == 0


async def test_one_client_host_gets_a_quarter_of_the_hold_places() -> None:
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=60, max_held=8)
    greedy = [asyncio.create_task(mail_from(smtp, "198.51.100.7")) for _ in range(2)]
    await wait_for(lambda: backlog.waiting == 2, what="its two places taken")
    assert await asyncio.wait_for(mail_from(smtp, "198.51.100.7"), 1) == BACKLOGGED
    other = asyncio.create_task(mail_from(smtp, "203.0.113.9"))
    await wait_for(lambda: backlog.waiting == 3, what="another host still held")
    backlog.clear()
    assert await asyncio.gather(*greedy, other) == ["250 2.1.0 OK"] * 3
    assert smtp.held_by_host == {}


async def test_no_hold_answers_at_once_as_before() -> None:
    smtp = handler(FakeBackpressure(overloaded=True), hold=0, max_held=10)
    assert await asyncio.wait_for(mail_from(smtp), 1) == BACKLOGGED


async def test_a_clear_backlog_holds_nobody() -> None:
    backlog = FakeBackpressure()
    assert await mail_from(handler(backlog, hold=60, max_held=10)) == "250 2.1.0 OK"
    assert backlog.waiting == 0


async def test_a_local_relay_is_not_held_to_a_hosts_share() -> None:
    """Behind a local MTA or proxy every sender is 127.0.0.1 (or ::1)."""
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=60, max_held=8)
    local = [asyncio.create_task(mail_from(smtp, "127.0.0.1")) for _ in range(3)]
    local.append(asyncio.create_task(mail_from(smtp, "::1")))
    await wait_for(lambda: backlog.waiting == 4, what="four local senders held")
    backlog.clear()
    assert await asyncio.gather(*local) == ["250 2.1.0 OK"] * 4
