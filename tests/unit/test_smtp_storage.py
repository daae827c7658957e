"""What SMTP answers when the data directory is short of space (Postfix's smtpd_check_size):
452 4.3.1 at MAIL with SIZE=, before DATA's 354, after a transfer that would not fit and
when a write fails with ENOSPC (or SQLite's or PostgreSQL's disk-full error), and 552 5.3.4
at MAIL for a SIZE= over the limit. Over a real socket to the real listener; the disk is a
fake of our StorageSpace port (the real disk is tests/integration/test_disk_full.py)."""

from __future__ import annotations

import asyncio
import errno
import smtplib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from adapters.inbound.smtp import STORAGE_FULL, SmtpInboundHandler, declared_size
from adapters.inbound.smtp_listener import SmtpListener, serve_smtp
from adapters.outbound.disk_space import DiskSpace
from tests.support import free_port
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested

MB = 1024 * 1024
MAX_MESSAGE_BYTES = 4 * MB
MAIL = b"From: a@example.com\r\nMessage-ID: <m@example.com>\r\n\r\n" + (b"x" * 70 + b"\r\n") * 20


@dataclass
class FakeDisk:
    """Room for mail up to `room` bytes (the StorageSpace port)."""

    room: int = 10 * MB
    asked: list[int] = field(default_factory=list)
    full_after: int | None = None  # questions answered before the disk fills

    def room_for(self, size: int) -> bool:
        self.asked.append(size)
        if self.full_after is not None and len(self.asked) > self.full_after:
            return False
        return size < self.room


@dataclass
class Intake:
    listener: SmtpListener
    port: int
    disk: FakeDisk
    received: list[bytes]


@pytest.fixture
async def intake() -> AsyncIterator[Intake]:
    received: list[bytes] = []
    disk = FakeDisk()

    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        received.append(raw)
        return Ingested(message_id="<m@example.com>", thread_ids=("thread-1",))

    handler = SmtpInboundHandler(Mailboxes(["mailroom.local"]), ingest, storage=disk)
    port = free_port()
    listener = await serve_smtp(
        handler, host="127.0.0.1", port=port, max_message_bytes=MAX_MESSAGE_BYTES
    )
    try:
        yield Intake(listener, port, disk, received)
    finally:
        await listener.stop(timeout=5)


def dialogue(port: int, commands: list[str], body: bytes | None = None) -> list[tuple[int, str]]:
    answers = []
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        for command in commands:
            verb, _, arg = command.partition(" ")
            code, text = smtp.docmd(verb, arg)
            answers.append((code, text.decode()))
        if body is not None:
            smtp.send(body + b"\r\n.\r\n")
            code, text = smtp.getreply()
            answers.append((code, text.decode()))
    return answers


async def talk(
    intake: Intake, commands: list[str], body: bytes | None = None
) -> list[tuple[int, str]]:
    return await asyncio.to_thread(dialogue, intake.port, commands, body)


def full(reply: tuple[int, str]) -> bool:
    return f"{reply[0]} {reply[1]}" == STORAGE_FULL


async def test_mail_with_a_size_that_does_not_fit_is_refused_452_before_any_transfer(
    intake: Intake,
) -> None:
    intake.disk.room = 2 * MB
    answers = await talk(intake, [f"MAIL FROM:<a@example.com> SIZE={3 * MB}"])
    assert full(answers[0]), answers
    assert intake.disk.asked == [3 * MB]
    answers = await talk(intake, [f"MAIL FROM:<a@example.com> SIZE={MB}"])
    assert answers[0][0] == 250


async def test_a_size_over_the_limit_is_refused_552_5_3_4(intake: Intake) -> None:
    answers = await talk(intake, [f"MAIL FROM:<a@example.com> SIZE={MAX_MESSAGE_BYTES + 1}"])
    assert answers == [(552, "5.3.4 Message size exceeds fixed limit")]


async def test_data_is_refused_452_before_the_354_when_space_went_meanwhile(
    intake: Intake,
) -> None:
    commands = [f"MAIL FROM:<a@example.com> SIZE={len(MAIL)}", "RCPT TO:<support@mailroom.local>"]
    intake.disk.full_after = 1  # MAIL passes, DATA finds the disk full
    answers = await talk(intake, [*commands, "DATA"])
    assert [a[0] for a in answers[:2]] == [250, 250]
    assert full(answers[2]), answers
    assert intake.disk.asked == [len(MAIL), len(MAIL)]
    assert intake.received == []


async def test_a_transfer_that_does_not_fit_is_refused_452_and_never_stored(
    intake: Intake,
) -> None:
    intake.disk.room = len(MAIL) - 1  # MAIL without SIZE= asks for 0 and passes
    commands = ["MAIL FROM:<a@example.com>", "RCPT TO:<support@mailroom.local>", "DATA"]
    answers = await talk(intake, commands, MAIL)
    assert [a[0] for a in answers[:3]] == [250, 250, 354]
    assert full(answers[3]), answers
    assert intake.received == []


def sqlite_full() -> sqlite3.OperationalError:
    """What SQLite raises on a full disk (the blob references, the thread index)."""
    with sqlite3.connect(":memory:") as db:
        db.execute("PRAGMA max_page_count = 2")
        db.execute("CREATE TABLE t (x BLOB)")
        try:
            db.execute("INSERT INTO t VALUES (zeroblob(100000))")
        except sqlite3.OperationalError as exc:
            return exc
    raise AssertionError("SQLite found room")


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite_full(),
        psycopg.errors.DiskFull("could not extend file: No space left on device"),  # 53100
    ],
    ids=repr,
)
async def test_a_write_that_fails_for_want_of_space_is_answered_452(
    intake: Intake, error: Exception
) -> None:
    async def disk_full(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        raise error

    intake.listener.handler.ingest = disk_full
    commands = ["MAIL FROM:<a@example.com>", "RCPT TO:<support@mailroom.local>", "DATA"]
    answers = await talk(intake, commands, MAIL)
    assert full(answers[3]), answers


def test_the_declared_size_is_read_from_the_mail_options() -> None:
    assert declared_size(["BODY=8BITMIME", "SIZE=1234"]) == 1234
    assert declared_size(["size=99"]) == 99
    assert declared_size(["BODY=8BITMIME"]) == 0


def test_disk_space_keeps_the_reserve_and_half_the_free_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk = DiskSpace(path=Path("/"), reserve_bytes=10 * MB)
    monkeypatch.setattr(DiskSpace, "free_bytes", lambda self: 30 * MB)
    assert disk.room_for(0)
    assert disk.room_for(14 * MB)
    assert not disk.room_for(15 * MB)  # half the free space (Postfix)
    monkeypatch.setattr(DiskSpace, "free_bytes", lambda self: 12 * MB)
    assert disk.room_for(MB)
    assert not disk.room_for(2 * MB)  # into the reserve
    monkeypatch.setattr(DiskSpace, "free_bytes", lambda self: 10 * MB)
    assert not disk.room_for(0)  # at the reserve: no mail at all
