"""The IMAP adapter alone against a real Dovecot, handing off to the recording fake gateway.

Temporal's side is covered by the other test_imap_* files; these pin down what the adapter
does when the hand-off misbehaves: Temporal refuses it, the threads are behind, or it hangs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from orchestrator.services import IMAP_CHECKPOINTS
from tests.dovecot import Dovecot
from tests.fakes import FakeBackpressure, FakeThreadGateway
from tests.integration.imap_support import SEEN, all_have, append_all, flags, lone_adapter, mail
from tests.support import wait_for
from use_cases.models import NewMessage, ThreadKey


class BlockingGateway(FakeThreadGateway):
    """Accepts messages until `block_after`, then waits forever (a hang mid-batch)."""

    def __init__(self, block_after: int) -> None:
        super().__init__()
        self.block_after = block_after

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if len(self.handed_off) >= self.block_after:
            await asyncio.Event().wait()
        await super().new_message(key, message)


async def test_nothing_is_marked_while_temporal_refuses_and_all_is_once_it_accepts(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Queued {n}") for n in range(3)]
    await asyncio.to_thread(append_all, dovecot, [raw for _, raw in mails])
    threads = FakeThreadGateway()
    threads.fail_with = "Temporal unreachable (fake)"
    adapter = lone_adapter(dovecot, tmp_path, threads, start="all")
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: adapter.status == "backing_off", what="a failed hand-off")
        assert all(f == () for f in (await flags(dovecot)).values())
        threads.fail_with = None
        await wait_for(lambda: all_have(flags(dovecot), SEEN, 3), what="all marked")
        handed = [m.message_id for _, m in threads.handed_off]
        assert handed == [message_id for message_id, _ in mails]  # in UID order
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_mail_stays_in_the_mailbox_while_threads_are_behind_then_is_fetched(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Behind {n}") for n in range(3)]
    await asyncio.to_thread(append_all, dovecot, [raw for _, raw in mails])
    threads = FakeThreadGateway()
    backlog = FakeBackpressure(overloaded=True)
    adapter = lone_adapter(dovecot, tmp_path, threads, backlog, start="all")
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: adapter.status == "paused: backlog", what="the pause")
        assert threads.handed_off == []
        assert all(f == () for f in (await flags(dovecot)).values())
        backlog.clear()
        await wait_for(lambda: all_have(flags(dovecot), SEEN, 3), what="all marked")
        assert [m.message_id for _, m in threads.handed_off] == [m for m, _ in mails]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_stop_mid_batch_acknowledges_exactly_what_was_handed_off(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    mails = [mail(f"Batch {n}") for n in range(5)]
    await asyncio.to_thread(append_all, dovecot, [raw for _, raw in mails])
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
