"""Which mail the IMAP adapter takes, and what it leaves on a real Dovecot once handed off.

The start point (new, all, a date), IDLE or polling, the after-action (mark seen, move, or
COPY + UID EXPUNGE without MOVE), and what `mailroom imap --check` reports beforehand.

Every test gets its own Dovecot (see tests/dovecot.py), task queue and Message-IDs.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.dovecot import Dovecot
from tests.fakes import FakeThreadGateway
from tests.integration.imap_support import (
    MAILBOX,
    SEEN,
    all_have,
    cli_env,
    equal,
    flags,
    holds,
    imap_stack,
    lone_adapter,
    mail,
    message_ids,
    thread_of,
)
from tests.support import run_mailroom, wait_for


async def test_appended_mail_lands_in_its_threads_even_when_another_client_read_it(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    question_id, question = mail("Printer on fire")
    reply_id, reply = mail("Re: Printer on fire", in_reply_to=question_id)
    read_id, already_read = mail("Invoice 42")
    dovecot.append(question)
    dovecot.append(reply)
    dovecot.append(already_read, flags=[SEEN])  # a human read it first: still ours to ingest

    url = dovecot.url(mailbox=MAILBOX, start="all")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, _):
        expected = {
            thread_of(question): [question_id, reply_id],
            thread_of(already_read): [read_id],
        }
        for thread_id, ids in expected.items():
            await wait_for(partial(holds, threads, thread_id, ids), what=thread_id)
        # after=mark (the default): \Seen is set once the hand-off was acknowledged
        await wait_for(lambda: all_have(flags(dovecot), SEEN, 3), what="all three marked \\Seen")


async def test_idle_delivers_new_mail_within_two_seconds_and_start_new_skips_old_mail(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    old_id, old = mail("From before mailroom")
    dovecot.append(old)
    url = dovecot.url(mailbox=MAILBOX)  # start=new is the default
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: adapter.status == "idle", what="the adapter to IDLE")
        new_id, new = mail("Fresh question")
        sent_at = time.monotonic()
        await asyncio.to_thread(dovecot.append, new)
        await wait_for(lambda: adapter.handed_off == 1, timeout=2.0, what="the IDLE wake-up")
        assert time.monotonic() - sent_at < 2.0
        await wait_for(lambda: equal(message_ids(threads, thread_of(new)), [new_id]))
        server_flags = await flags(dovecot)
        assert server_flags[new_id.encode()] == (SEEN,)
        assert server_flags[old_id.encode()] == ()  # never touched: before the start point
        assert adapter.handed_off == 1


async def test_idle_is_renewed_and_still_delivers(dovecot: Dovecot, tmp_path: Path) -> None:
    threads = FakeThreadGateway()
    adapter = lone_adapter(dovecot, tmp_path, threads)
    adapter.idle_renew = 0.2  # production: minutes, well before RFC 2177's 29
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: adapter.idles >= 3, what="IDLE re-issued")
        message_id, raw = mail("After renewals")
        await asyncio.to_thread(dovecot.append, raw)
        await wait_for(lambda: [m.message_id for _, m in threads.handed_off] == [message_id])
        assert adapter.sessions == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_start_date_skips_mail_received_before_it(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    old_id, old = mail("Ancient history")
    new_id, new = mail("This week")
    dovecot.append(old, received=datetime(2020, 1, 1, tzinfo=UTC))
    dovecot.append(new)
    url = dovecot.url(mailbox=MAILBOX, start="2024-01-01")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: equal(message_ids(threads, thread_of(new)), [new_id]))
        await wait_for(lambda: adapter.status == "idle", what="the adapter to IDLE")
        assert adapter.handed_off == 1
        assert (await flags(dovecot))[old_id.encode()] == ()


async def test_after_move_moves_handled_mail_to_the_folder(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    first_id, first = mail("Move me")
    second_id, second = mail("Me too")
    dovecot.append(first)
    dovecot.append(second)
    url = dovecot.url(mailbox=MAILBOX, start="all", after="move:Processed")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, _):
        await wait_for(lambda: _moved(dovecot, 2), what="both mails in Processed")
        assert await message_ids(threads, thread_of(first)) == [first_id]
        assert await message_ids(threads, thread_of(second)) == [second_id]


async def test_without_move_and_idle_it_copies_expunges_by_uid_and_polls(
    dovecot_without_idle_and_move: Dovecot,
    dev_server: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    dovecot = dovecot_without_idle_and_move
    dovecot.append(mail("Before start")[1])
    url = dovecot.url(mailbox=MAILBOX, start="all", after="move:Processed", poll="0.2")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: _moved(dovecot, 1), what="the first mail moved")
        await wait_for(lambda: adapter.status == "polling", what="polling (no IDLE)")
        later_id, later = mail("Found by polling")
        await asyncio.to_thread(dovecot.append, later)
        await wait_for(lambda: _moved(dovecot, 2), what="the polled mail moved")
        assert await message_ids(threads, thread_of(later)) == [later_id]
        assert all(SEEN not in f for f in (await flags(dovecot, "Processed")).values())


async def test_check_reports_capabilities_and_folder_state_without_the_password(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.append(mail("Waiting")[1])
    dovecot.append(mail("Also waiting")[1])
    good = dovecot.url(mailbox=MAILBOX, start="all", after="move:Processed")
    wrong = good.replace("s3cr", "wr0ng", 1)
    env = cli_env("127.0.0.1:1", "unused", tmp_path, good)

    code, out, err = await run_mailroom("imap", "--check", env=env)
    assert code == 0, err
    assert "IDLE yes  MOVE yes  UIDPLUS yes" in out
    assert "2 messages" in out and "2 to ingest" in out
    assert "Processed: missing (will be created)" in out
    assert "first start: start=all" in out

    env["MAILROOM_IMAP_SOURCES"] = f"{good},{wrong}"
    code, out, _ = await run_mailroom("imap", "--check", env=env)
    assert code == 2
    assert ": ok" in out and "FAILED" in out and "Authentication failed" in out
    assert "s3cr" not in out and "wr0ng" not in out  # the passwords, raw or %-encoded


async def _moved(dovecot: Dovecot, count: int) -> bool:
    return not await flags(dovecot) and len(await flags(dovecot, "Processed")) == count
