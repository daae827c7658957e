"""Poison mail on every path in: over SMTP (a real socket into the in-process stack) it is
answered 250 and reaches its thread, a mail that can never be handed off gets a 5xx, and the
mail behind them is delivered; over IMAP (a real Dovecot) a mail that can never be handed off
is moved to the quarantine folder and recorded, the checkpoint passes over it, and the mail
behind it arrives; `mailroom replay` imports the poison mail and the rest, and counts and
names what it skipped."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from orchestrator.bootstrap import bootstrap
from orchestrator.services import IMAP_CHECKPOINTS, check_imap
from tests.dovecot import Dovecot
from tests.fakes import FakeThreadGateway
from tests.integration.imap_support import (
    MAILBOX,
    append_all,
    flags,
    holds,
    imap_stack,
    mail,
    thread_of,
)
from tests.integration.test_cli import cli_env
from tests.poison import all_poison, poison_mail, too_large_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import run_mailroom, wait_for
from use_cases.ingest import ingest_email
from use_cases.models import Ingested, NewMessage, ThreadKey
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

QUARANTINE = "mailroom-quarantine"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue)
    async with running_stack(dev_server.client, settings) as running:
        yield running


def transactions(port: int, mails: list[bytes]) -> list[tuple[int, str]]:
    """One SMTP connection, one transaction per mail: the answer to each DATA."""
    answers = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo()
        for raw in mails:
            assert smtp.mail("alice@customer.example")[0] == 250
            assert smtp.rcpt(MAILBOX)[0] == 250
            code, text = smtp.data(raw)
            answers.append((code, text.decode(errors="replace")))
    return answers


async def subject_in_thread(stack: Stack, message_id: str) -> str | None:
    try:
        state = await stack.gateway.get(workflow_id_for(MAILBOX, message_id))
    except ThreadNotFound:
        return None
    return state.subject if message_id in state.message_ids else None


async def test_poison_mail_is_answered_250_and_reaches_its_thread_over_smtp(
    stack: Stack, unique: str
) -> None:
    poison = all_poison(unique)
    large_id = f"<large-{unique}@x>"
    after_id, after = mail("Behind the poison")
    mails = [*poison.values(), too_large_mail(large_id), after]
    answers = await asyncio.to_thread(transactions, stack.smtp_port, mails)

    for message_id, (code, text) in zip([*poison, large_id, after_id], answers, strict=True):
        if message_id == large_id:  # can never fit a signal: permanent, the sender bounces it
            assert (code, text[:5]) == (552, "5.3.4"), text
        else:
            assert (code, text) == (250, f"2.0.0 OK: queued as {message_id}"), message_id
    for message_id in [*poison, after_id]:
        subject = await wait_for(partial(subject_in_thread, stack, message_id), what=message_id)
        assert subject.isprintable(), subject  # the ESC of the poison words is gone
    assert await subject_in_thread(stack, large_id) is None


async def test_imap_quarantines_what_can_never_be_handed_off_and_reads_the_mail_behind(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    poison_id, large_id = "<poison-imap@x>", "<large-imap@x>"
    after_id, after = mail("Behind the large one")
    raws = [poison_mail("zlib", poison_id), too_large_mail(large_id), after]
    await asyncio.to_thread(append_all, dovecot, raws)
    url = dovecot.url(mailbox=MAILBOX, start="all")
    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(partial(holds, threads, thread_of(after), [after_id]), what="the last mail")
        poison_thread = thread_of(raws[0])
        await wait_for(partial(holds, threads, poison_thread, [poison_id]), what="the poison")
        assert adapter.quarantined == 1 and adapter.handed_off == 2
        assert adapter.sessions == 1  # no reconnect: nothing failed, nothing loops

    assert list(await flags(dovecot, QUARANTINE)) == [large_id.encode()]
    assert large_id.encode() not in await flags(dovecot)
    store = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    checkpoint = store.load(adapter.source.key)
    assert checkpoint is not None and checkpoint.last_uid == 3
    [record] = store.quarantined(adapter.source.key)
    assert (record.uid, record.message_id, record.moved_to) == (2, large_id, QUARANTINE)
    assert record.reason.startswith("too large for a signal")

    wiring = bootstrap(stack_settings(tmp_path, dev_server.client, task_queue, imap_sources=[url]))
    [report] = await check_imap(wiring)
    listed = "\n".join(report.lines())
    assert "quarantined   1 messages:" in listed and f"UID 2 {large_id} moved to" in listed


class FailsOn(FakeThreadGateway):
    """An error nobody classified, each time one mail is handed off."""

    def __init__(self, message_id: str) -> None:
        super().__init__()
        self.message_id = message_id
        self.tries = 0

    async def new_message(self, key: ThreadKey, message: NewMessage) -> None:
        if message.message_id == self.message_id:
            self.tries += 1
            raise RuntimeError("unforeseen (fake)")
        await super().new_message(key, message)


async def test_an_unforeseen_error_on_one_uid_is_retried_then_quarantined(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    stuck_id, stuck = mail("Provokes an unforeseen error")
    after_id, after = mail("Behind it")
    await asyncio.to_thread(append_all, dovecot, [stuck, after])
    threads = FailsOn(stuck_id)

    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(raw, mailboxes=[MAILBOX], gateway=threads, parse=parse_email)

    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    source = parse_source(dovecot.url(mailbox=MAILBOX, start="all"))
    adapter = ImapInbound(source, ingest=ingest, checkpoints=checkpoints, backoff_initial=0.05)
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(lambda: [m.message_id for _, m in threads.handed_off] == [after_id])
        assert threads.tries == 3 and adapter.sessions == 3  # tried again after a reconnect
        assert list(await flags(dovecot, QUARANTINE)) == [stuck_id.encode()]
        [record] = checkpoints.quarantined(source.key)
        assert record.reason == "failed 3 times: RuntimeError: unforeseen (fake)"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_replay_imports_poison_mail_and_skips_what_can_never_be_handed_off(
    stack: Stack, tmp_path: Path, unique: str
) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    poison_id, large_id = f"<poison-replay-{unique}@x>", f"<large-replay-{unique}@x>"
    after_id, after = mail("Replayed after the large one")
    (folder / "1-poison.eml").write_bytes(poison_mail("idna", poison_id))
    (folder / "2-large.eml").write_bytes(too_large_mail(large_id))
    (folder / "3-after.eml").write_bytes(after)

    code, out, err = await run_mailroom("replay", str(folder), "--lanes", "1", env=cli_env(stack))
    assert code == 0, err
    assert "replayed 3 messages: 2 accepted, 0 duplicate, 0 rejected, 1 skipped" in out
    assert "(can never be handed off: 1 too large for a signal)" in out
    assert f"skipped {folder / '2-large.eml'}: too large for a signal" in err
    for message_id in (poison_id, after_id):
        await wait_for(partial(subject_in_thread, stack, message_id), what=message_id)
