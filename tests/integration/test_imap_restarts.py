"""The IMAP adapter across restarts, against a real Dovecot and a real Temporal dev server.

Its own (stopped, or killed mid-batch), Dovecot's, and the folder's (recreated, so a new
UIDVALIDITY): the checkpoint and the threads' duplicate check keep every mail handed off once.

Every test gets its own Dovecot (see tests/dovecot.py), task queue and Message-IDs.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.bootstrap import bootstrap, gateway
from orchestrator.services import IMAP_CHECKPOINTS, start_worker
from tests.dovecot import Dovecot
from tests.integration.imap_support import (
    MAILBOX,
    SEEN,
    all_have,
    append_all,
    cli_env,
    daemon_process,
    equal,
    flags,
    holds,
    imap_stack,
    mail,
    message_ids,
    thread_of,
)
from tests.stack import stack_settings
from tests.support import wait_for


async def test_after_leave_changes_nothing_and_the_checkpoint_prevents_a_second_hand_off(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    left_id, left = mail("Leave me be")
    dovecot.append(left)
    url = dovecot.url(mailbox=MAILBOX, start="all", after="leave")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(lambda: equal(message_ids(threads, thread_of(left)), [left_id]))
        assert adapter.handed_off == 1
    assert await flags(dovecot) == {left_id.encode(): ()}

    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (_, [again]):
        await wait_for(lambda: again.status == "idle", what="the restarted adapter to IDLE")
        assert again.handed_off == 0  # UIDs at or below the checkpoint are not fetched again


async def test_adapter_killed_mid_batch_and_restarted_delivers_every_mail_once(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    mails = [mail(f"Bulk {n}") for n in range(150)]
    await asyncio.to_thread(append_all, dovecot, [raw for _, raw in mails])
    url = dovecot.url(mailbox=MAILBOX, start="all")
    wiring = bootstrap(stack_settings(tmp_path, dev_server.client, task_queue))
    env = cli_env(wiring.settings.temporal_target, task_queue, tmp_path, url)
    client = dev_server.client
    async with AsyncExitStack() as stack:
        await start_worker(wiring, client, stack)
        threads = gateway(wiring, client)

        first = daemon_process(env, tmp_path / "first.log")
        try:
            await wait_for(
                lambda: _thread_exists(client, thread_of(mails[0][1])), what="a first hand-off"
            )
        finally:
            first.send_signal(signal.SIGKILL)  # no clean stop: as a crash or an OOM kill
            await asyncio.to_thread(first.wait, 10)
        # Handed off but not yet marked: the crash window this test is about.
        assert (await flags(dovecot))[mails[0][0].encode()] == (), "killed too late"

        second = daemon_process(env, tmp_path / "second.log")
        try:
            await wait_for(
                lambda: all_have(flags(dovecot), SEEN, len(mails)),
                timeout=60,
                what="every mail marked after the restart",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 15) == 0

        for message_id, raw in mails:
            holds_once = partial(holds, threads, thread_of(raw), [message_id])
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
        await wait_for(lambda: equal(message_ids(threads, thread_of(before)), [before_id]))

        await asyncio.to_thread(dovecot.restart)
        after_id, after = mail("After the restart")
        await asyncio.to_thread(dovecot.append, after)
        await wait_for(lambda: equal(message_ids(threads, thread_of(after)), [after_id]))
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
        await wait_for(lambda: equal(message_ids(threads, thread_of(c)), [c_id]))
        await wait_for(lambda: _duplicates_ignored(threads, [thread_of(a), thread_of(b)], 2))
        assert await message_ids(threads, thread_of(a)) == [a_id]
        assert await message_ids(threads, thread_of(b)) == [b_id]
        new = checkpoints.load(source_key)
        assert new is not None and new.uidvalidity != old.uidvalidity and new.last_uid == 3


def _recreate_folder(dovecot: Dovecot, folder: str, raws: list[bytes]) -> None:
    with dovecot.client(None) as client:
        client.delete_folder(folder)
        client.create_folder(folder)
        for raw in raws:
            client.append(folder, raw)


async def _thread_exists(client: Client, thread_id: str) -> bool:
    await client.get_workflow_handle(thread_id).describe()  # raises until it exists
    return True


async def _duplicates_ignored(
    threads: TemporalThreadGateway, thread_ids: list[str], n: int
) -> bool:
    return sum([(await threads.get(t)).duplicates_ignored for t in thread_ids]) == n
