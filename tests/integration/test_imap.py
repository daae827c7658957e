"""The IMAP adapter against a real Dovecot and a real Temporal dev server.

Every test gets its own Dovecot (see tests/dovecot.py), task queue and Message-IDs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import bootstrap, gateway
from orchestrator.services import IMAP_CHECKPOINTS, start_imap, start_worker
from tests.conftest import ROOT
from tests.dovecot import Dovecot
from tests.fakes import FakeBackpressure, FakeThreadGateway
from tests.stack import stack_settings
from tests.support import run_mailroom, wait_for
from use_cases.ingest import ingest_email
from use_cases.models import Ingested, NewMessage, ThreadKey
from use_cases.threading import thread_key

MAILBOX = "support@mailroom.local"
SEEN = b"\\Seen"


def mail(subject: str, *, in_reply_to: str | None = None) -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    reply = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    raw = (
        f"From: Alice <alice@customer.example>\r\nTo: {MAILBOX}\r\n"
        f"Subject: {subject}\r\nMessage-ID: {message_id}\r\n{reply}"
        f"Date: Mon, 04 Mar 2024 10:00:00 +0000\r\n\r\n{subject}: details inside.\r\n"
    )
    return message_id, raw.encode()


def thread_of(raw: bytes) -> str:
    return thread_key(parse_email(raw), mailbox=MAILBOX).workflow_id


async def message_ids(threads: TemporalThreadGateway, thread_id: str) -> list[str]:
    return list((await threads.get(thread_id)).message_ids)


async def flags(dovecot: Dovecot, folder: str = "INBOX") -> dict[bytes, tuple[bytes, ...]]:
    return await asyncio.to_thread(dovecot.flags, folder)


@asynccontextmanager
async def imap_stack(
    client: Client, data_dir: Path, task_queue: str, *urls: str
) -> AsyncIterator[tuple[TemporalThreadGateway, list[ImapInbound]]]:
    """A worker on the test's queue and the IMAP adapters, wired as `mailroom up` does."""
    wiring = bootstrap(stack_settings(data_dir, client, task_queue, imap_sources=list(urls)))
    async with AsyncExitStack() as stack:
        await start_worker(wiring, client, stack)
        adapters = await start_imap(wiring, client, stack)
        yield gateway(wiring, client), adapters


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
            await wait_for(partial(_holds, threads, thread_id, ids), what=thread_id)
        # after=mark (the default): \Seen is set once the hand-off was acknowledged
        await wait_for(lambda: _all_have(flags(dovecot), SEEN, 3), what="all three marked \\Seen")


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
        await wait_for(lambda: _equal(message_ids(threads, thread_of(new)), [new_id]))
        server_flags = await flags(dovecot)
        assert server_flags[new_id.encode()] == (SEEN,)
        assert server_flags[old_id.encode()] == ()  # never touched: before the start point
        assert adapter.handed_off == 1


async def test_start_date_skips_mail_received_before_it(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    old_id, old = mail("Ancient history")
    new_id, new = mail("This week")
    dovecot.append(old, received=datetime(2020, 1, 1, tzinfo=UTC))
    dovecot.append(new)
    url = dovecot.url(mailbox=MAILBOX, start="2024-01-01")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: _equal(message_ids(threads, thread_of(new)), [new_id]))
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


async def test_after_leave_changes_nothing_and_the_checkpoint_prevents_a_second_hand_off(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    left_id, left = mail("Leave me be")
    dovecot.append(left)
    url = dovecot.url(mailbox=MAILBOX, start="all", after="leave")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: _equal(message_ids(threads, thread_of(left)), [left_id]))
        assert adapter.handed_off == 1
    assert await flags(dovecot) == {left_id.encode(): ()}

    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (_, [again]):
        await wait_for(lambda: again.status == "idle", what="the restarted adapter to IDLE")
        assert again.handed_off == 0  # UIDs at or below the checkpoint are not fetched again


async def test_adapter_killed_mid_batch_and_restarted_delivers_every_mail_once(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    mails = [mail(f"Bulk {n}") for n in range(150)]
    await asyncio.to_thread(_append_all, dovecot, [raw for _, raw in mails])
    url = dovecot.url(mailbox=MAILBOX, start="all")
    wiring = bootstrap(stack_settings(tmp_path, dev_server.client, task_queue))
    env = _cli_env(wiring.settings.temporal_target, task_queue, tmp_path, url)
    client = dev_server.client
    async with AsyncExitStack() as stack:
        await start_worker(wiring, client, stack)
        threads = gateway(wiring, client)

        first = _adapter_process(env, tmp_path / "first.log")
        try:
            await wait_for(
                lambda: _thread_exists(client, thread_of(mails[0][1])), what="a first hand-off"
            )
        finally:
            first.send_signal(signal.SIGKILL)  # no clean stop: as a crash or an OOM kill
            await asyncio.to_thread(first.wait, 10)
        # Handed off but not yet marked: the crash window this test is about.
        assert (await flags(dovecot))[mails[0][0].encode()] == (), "killed too late"

        second = _adapter_process(env, tmp_path / "second.log")
        try:
            await wait_for(
                lambda: _all_have(flags(dovecot), SEEN, len(mails)),
                timeout=60,
                what="every mail marked after the restart",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 15) == 0

        for message_id, raw in mails:
            holds_once = partial(_holds, threads, thread_of(raw), [message_id])
            await wait_for(holds_once, what=f"{message_id} once in its thread")
        # the first mail was handed off twice; its thread dropped the second copy
        first_thread = await threads.get(thread_of(mails[0][1]))
        assert first_thread.duplicates_ignored == 1


async def test_dovecot_restart_while_running_reconnects_and_continues(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    url = dovecot.url(mailbox=MAILBOX)
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: adapter.status == "idle", what="the adapter to IDLE")
        before_id, before = mail("Before the restart")
        await asyncio.to_thread(dovecot.append, before)
        await wait_for(lambda: _equal(message_ids(threads, thread_of(before)), [before_id]))

        await asyncio.to_thread(dovecot.restart)
        after_id, after = mail("After the restart")
        await asyncio.to_thread(dovecot.append, after)
        await wait_for(lambda: _equal(message_ids(threads, thread_of(after)), [after_id]))
        assert adapter.sessions >= 2
        assert (await flags(dovecot))[after_id.encode()] == (SEEN,)


async def test_uidvalidity_change_rescans_without_loss_or_duplicates(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    folder = "Support"
    a_id, a = mail("Alpha")
    b_id, b = mail("Bravo")
    c_id, c = mail("Charlie")
    dovecot.append(a, folder)
    dovecot.append(b, folder)
    url = dovecot.url(folder, mailbox=MAILBOX, start="all")
    source_key = parse_source(url).key
    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: adapter.handed_off == 2 and adapter.status == "idle")
        old = checkpoints.load(source_key)
        assert old is not None and old.last_uid == 2

        # The folder is recreated (a server migration or restore): same mail, new UIDs.
        await asyncio.to_thread(_recreate_folder, dovecot, folder, [a, b, c])
        await wait_for(lambda: _equal(message_ids(threads, thread_of(c)), [c_id]))
        await wait_for(lambda: _duplicates_ignored(threads, [thread_of(a), thread_of(b)], 2))
        assert await message_ids(threads, thread_of(a)) == [a_id]
        assert await message_ids(threads, thread_of(b)) == [b_id]
        new = checkpoints.load(source_key)
        assert new is not None and new.uidvalidity != old.uidvalidity and new.last_uid == 3


async def test_check_reports_capabilities_and_folder_state_without_the_password(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.append(mail("Waiting")[1])
    dovecot.append(mail("Also waiting")[1])
    good = dovecot.url(mailbox=MAILBOX, start="all", after="move:Processed")
    wrong = good.replace("s3cr", "wr0ng", 1)
    env = _cli_env("127.0.0.1:1", "unused", tmp_path, good)

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


def _cli_env(temporal: str, task_queue: str, data_dir: Path, *urls: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_CONFIG": str(data_dir / "no-such-mailroom.toml"),
        "MAILROOM_DATA_DIR": str(data_dir),
        "MAILROOM_TEMPORAL_ADDRESS": temporal,
        "MAILROOM_TASK_QUEUE": task_queue,
        "MAILROOM_MAILBOXES": f"{MAILBOX},procurement@mailroom.local",
        "MAILROOM_IMAP_SOURCES": ",".join(urls),
    }


def _adapter_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "imap"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _append_all(dovecot: Dovecot, raws: list[bytes]) -> None:
    with dovecot.client() as client:
        for raw in raws:
            client.append("INBOX", raw)


def _recreate_folder(dovecot: Dovecot, folder: str, raws: list[bytes]) -> None:
    with dovecot.client(None) as client:
        client.delete_folder(folder)
        client.create_folder(folder)
        for raw in raws:
            client.append(folder, raw)


async def _thread_exists(client: Client, thread_id: str) -> bool:
    await client.get_workflow_handle(thread_id).describe()  # raises until it exists
    return True


async def _holds(threads: TemporalThreadGateway, thread_id: str, expected: list[str]) -> bool:
    return await message_ids(threads, thread_id) == expected


async def _equal(found: Awaitable[list[str]], expected: list[str]) -> bool:
    return await found == expected


async def _all_have(found: Awaitable[dict[bytes, tuple[bytes, ...]]], flag: bytes, n: int) -> bool:
    return sum(flag in f for f in (await found).values()) == n


async def _moved(dovecot: Dovecot, count: int) -> bool:
    return not await flags(dovecot) and len(await flags(dovecot, "Processed")) == count


async def _duplicates_ignored(
    threads: TemporalThreadGateway, thread_ids: list[str], n: int
) -> bool:
    return sum([(await threads.get(t)).duplicates_ignored for t in thread_ids]) == n


# The adapter alone, handing off to the recording fake gateway: Temporal's side is
# covered above; these pin down what the adapter does when the hand-off misbehaves.


class BlockingGateway(FakeThreadGateway):
    """Accepts messages until `block_after`, then waits forever (a hang mid-batch)."""

    def __init__(self, block_after: int) -> None:
        super().__init__()
        self.block_after = block_after

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if len(self.handed_off) >= self.block_after:
            await asyncio.Event().wait()
        await super().new_message(key, message)


def lone_adapter(
    dovecot: Dovecot,
    tmp_path: Path,
    threads: FakeThreadGateway,
    backlog: FakeBackpressure | None = None,
    **params: str,
) -> ImapInbound:
    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(raw, mailboxes=[MAILBOX], gateway=threads, parse=parse_email)

    source = parse_source(dovecot.url(mailbox=MAILBOX, **params))
    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    return ImapInbound(
        source, ingest=ingest, checkpoints=checkpoints, backoff_initial=0.05, backlog=backlog
    )


async def test_nothing_is_marked_while_temporal_refuses_and_all_is_once_it_accepts(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Queued {n}") for n in range(3)]
    await asyncio.to_thread(_append_all, dovecot, [raw for _, raw in mails])
    threads = FakeThreadGateway()
    threads.fail_with = "Temporal unreachable (fake)"
    adapter = lone_adapter(dovecot, tmp_path, threads, start="all")
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: adapter.status == "backing_off", what="a failed hand-off")
        assert all(f == () for f in (await flags(dovecot)).values())
        threads.fail_with = None
        await wait_for(lambda: _all_have(flags(dovecot), SEEN, 3), what="all marked")
        handed = [m.message_id for _, m in threads.handed_off]
        assert handed == [message_id for message_id, _ in mails]  # in UID order
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_mail_stays_in_the_mailbox_while_threads_are_behind_then_is_fetched(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Behind {n}") for n in range(3)]
    await asyncio.to_thread(_append_all, dovecot, [raw for _, raw in mails])
    threads = FakeThreadGateway()
    backlog = FakeBackpressure(overloaded=True)
    adapter = lone_adapter(dovecot, tmp_path, threads, backlog, start="all")
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: adapter.status == "paused: backlog", what="the pause")
        assert threads.handed_off == []
        assert all(f == () for f in (await flags(dovecot)).values())
        backlog.clear()
        await wait_for(lambda: _all_have(flags(dovecot), SEEN, 3), what="all marked")
        assert [m.message_id for _, m in threads.handed_off] == [m for m, _ in mails]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_stop_mid_batch_acknowledges_exactly_what_was_handed_off(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Batch {n}") for n in range(5)]
    await asyncio.to_thread(_append_all, dovecot, [raw for _, raw in mails])
    threads = BlockingGateway(block_after=2)
    adapter = lone_adapter(dovecot, tmp_path, threads, start="all")
    task = asyncio.create_task(adapter.run())
    await wait_for(lambda: len(threads.handed_off) == 2, what="two hand-offs")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert adapter.status == "stopped"
    server_flags = await flags(dovecot)
    assert [server_flags[i.encode()] for i, _ in mails] == [(SEEN,), (SEEN,), (), (), ()]
    saved = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS).load(adapter.source.key)
    assert saved is not None and saved.last_uid == 2


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
