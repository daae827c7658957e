"""How long the SMTP handler holds a sender while the backlog is behind, and how many."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from adapters.inbound.smtp import BACKLOGGED, SmtpInboundHandler
from tests.fakes import FakeBackpressure
from tests.support import wait_for
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested


async def never_called(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
    raise AssertionError("no mail reaches DATA in these tests")


def handler(backlog: FakeBackpressure, *, hold: float, max_held: int) -> SmtpInboundHandler:
    return SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        never_called,
        backlog=backlog,
        backlog_hold_seconds=hold,
        max_held=max_held,
    )


async def mail_from(smtp: SmtpInboundHandler) -> str:
    session = Session(asyncio.get_running_loop())
    return await smtp.handle_MAIL(cast(SMTP, None), session, Envelope(), "a@example.com", [])


async def test_past_the_hold_the_sender_is_deferred() -> None:
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=0.05, max_held=10)
    assert await mail_from(smtp) == BACKLOGGED
    assert smtp.held == 0 and backlog.waiting == 0


async def test_senders_beyond_the_held_limit_are_deferred_at_once() -> None:
    backlog = FakeBackpressure(overloaded=True)
    smtp = handler(backlog, hold=60, max_held=2)
    held = [asyncio.create_task(mail_from(smtp)) for _ in range(2)]
    await wait_for(lambda: backlog.waiting == 2, what="two senders held")
    assert await asyncio.wait_for(mail_from(smtp), 1) == BACKLOGGED
    backlog.clear()
    assert await asyncio.gather(*held) == ["250 2.1.0 OK", "250 2.1.0 OK"]
    assert smtp.held == 0


async def test_no_hold_answers_at_once_as_before() -> None:
    smtp = handler(FakeBackpressure(overloaded=True), hold=0, max_held=10)
    assert await asyncio.wait_for(mail_from(smtp), 1) == BACKLOGGED


async def test_a_clear_backlog_holds_nobody() -> None:
    backlog = FakeBackpressure()
    assert await mail_from(handler(backlog, hold=60, max_held=10)) == "250 2.1.0 OK"
    assert backlog.waiting == 0
