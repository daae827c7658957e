"""Back-pressure on the accepted-but-not-applied backlog, against a real Temporal dev server:
while no worker applies what was accepted, SMTP holds a new sender, then defers it with
451 4.3.2; once the threads catch up it accepts again (a held sender without a retry), and
every accepted mail is applied exactly once."""

from __future__ import annotations

import asyncio
import smtplib
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.bootstrap import bootstrap, gateway
from orchestrator.services import start_backlog, start_smtp, start_worker
from tests.fakes import FakeBackpressure
from tests.stack import send_mail, stack_settings
from tests.support import wait_for
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"


def mail(unique: str, n: int) -> bytes:
    return (
        f"From: carol@example.com\r\nTo: {SUPPORT}\r\nSubject: Backlog {unique} {n}\r\n"
        f"Message-ID: <backlog-{n}-{unique}@example.com>\r\n\r\nMail number {n}.\r\n"
    ).encode()


async def send(port: int, raw: bytes) -> object:
    """From a thread: the adapter serves SMTP on this test's event loop."""
    return await asyncio.to_thread(send_mail, port, raw, [SUPPORT], "carol@example.com")


async def smtp_adapter(
    env: WorkflowEnvironment,
    data_dir: Path,
    task_queue: str,
    backlog: FakeBackpressure,
    stack: AsyncExitStack,
    *,
    hold: float = 60,
) -> int:
    """The SMTP adapter alone, on a backlog the test sets; its port."""
    settings = stack_settings(data_dir, env.client, task_queue, backlog_hold_seconds=hold)
    await start_smtp(bootstrap(settings), env.client, stack, backlog)
    return settings.smtp_port


async def test_a_transaction_begun_before_the_backlog_grew_is_deferred_at_data(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, unique: str
) -> None:
    backlog = FakeBackpressure()
    async with AsyncExitStack() as stack:
        port = await smtp_adapter(dev_server, tmp_path, task_queue, backlog, stack)

        def begin_then_finish_late() -> tuple[int, bytes]:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.ehlo()
                smtp.mail("carol@example.com")
                smtp.rcpt(SUPPORT)
                backlog.overload()  # grew while this client was sending
                code, text = smtp.data(mail(unique, 3))
                return code, text

        code, text = await asyncio.wait_for(asyncio.to_thread(begin_then_finish_late), 5)
        assert code == 451 and b"4.3.2" in text, "the body is not held: deferred at once"


async def test_smtp_defers_while_accepted_mail_waits_and_accepts_once_it_is_applied(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, unique: str
) -> None:
    client = dev_server.client
    settings = stack_settings(
        tmp_path, client, task_queue, max_backlog_seconds=0.5, backlog_hold_seconds=0.2
    )
    wiring = bootstrap(settings)
    threads = gateway(wiring, client)
    async with AsyncExitStack() as stack:
        backlog = await start_backlog(wiring, client, stack)
        assert backlog is not None
        await start_smtp(wiring, client, stack, backlog)
        port = settings.smtp_port

        # No worker yet: the first mail is accepted (Temporal holds it durably) but waits.
        assert await send(port, mail(unique, 1)) == {}
        await wait_for(lambda: backlog.overloaded, what="the backlog to pass 0.5 s")
        # Held, then deferred at MAIL FROM: the sender does not transfer a body only to
        # hear 451.
        with pytest.raises(smtplib.SMTPSenderRefused) as deferred:
            await send(port, mail(unique, 2))
        assert deferred.value.smtp_code == 451
        assert b"4.3.2" in deferred.value.smtp_error

        await start_worker(wiring, client, stack)
        await wait_for(lambda: not backlog.overloaded, what="the backlog to clear")
        # The sending server retries the deferred mail; now it is taken.
        assert await send(port, mail(unique, 2)) == {}

        first = f"<backlog-1-{unique}@example.com>"
        second = f"<backlog-2-{unique}@example.com>"

        async def both_applied() -> list[str] | None:
            states = [
                await threads.get(workflow_id_for(SUPPORT, message_id))
                for message_id in (first, second)
            ]
            ids = [m for s in states for m in s.message_ids]
            return ids if len(ids) == 2 else None

        assert await wait_for(both_applied, what="both mails applied") == [first, second]


async def test_a_sender_held_while_behind_is_accepted_once_the_backlog_clears(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, unique: str
) -> None:
    backlog = FakeBackpressure(overloaded=True)
    async with AsyncExitStack() as stack:
        port = await smtp_adapter(dev_server, tmp_path, task_queue, backlog, stack)
        sending = asyncio.create_task(send(port, mail(unique, 1)))
        await wait_for(lambda: backlog.waiting == 1, what="the sender to be held")
        assert not sending.done() and backlog.threads == [], "held, nothing handed off yet"
        backlog.clear()
        assert await asyncio.wait_for(sending, 30) == {}, "accepted without a 451"
        assert backlog.threads == [workflow_id_for(SUPPORT, f"<backlog-1-{unique}@example.com>")]


async def test_stopping_answers_a_held_sender_at_once(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, unique: str
) -> None:
    backlog = FakeBackpressure(overloaded=True)
    stack = AsyncExitStack()
    port = await smtp_adapter(dev_server, tmp_path, task_queue, backlog, stack)
    sending = asyncio.create_task(send(port, mail(unique, 1)))
    await wait_for(lambda: backlog.waiting == 1, what="the sender to be held")
    await asyncio.wait_for(stack.aclose(), 5)  # not the 60 s hold
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await asyncio.wait_for(sending, 5)
    assert refused.value.smtp_code == 451
    assert b"shutting down" in refused.value.smtp_error
    assert backlog.threads == [], "nothing handed off"
