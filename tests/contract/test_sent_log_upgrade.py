"""A sent log written before it kept what each mail was (Message-IDs and times only) is
upgraded in place on either backend: its mail stays sent (no second copy at the relay) and
is listed by Message-ID and time, next to the mail recorded after the upgrade."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from adapters.outbound.postgres import MIGRATIONS, connect, migrate
from adapters.outbound.postgres_sent_log import PostgresSentLog
from adapters.outbound.smtp_sender import SentLog
from tests.outbox_entries import sent_entry
from use_cases.mail import OutboxEntry

BEFORE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# The sent log's migration: the last one when this test was written.
BEFORE_DETAILS = 6


def old_entry(message_id: str) -> OutboxEntry:
    return OutboxEntry(
        message_id=message_id,
        to=[],
        subject="",
        in_reply_to=None,
        references=[],
        reply_to=None,
        sent_at=BEFORE,
    )


def test_an_old_sqlite_sent_log_keeps_its_mail_and_lists_it(tmp_path: Path) -> None:
    path = tmp_path / "sent.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sent (message_id TEXT PRIMARY KEY, sent_at TEXT NOT NULL)")
        db.execute("INSERT INTO sent VALUES (?, ?)", ("<old@mailroom.local>", BEFORE.isoformat()))
    log = SentLog(path)
    assert log.was_sent("<old@mailroom.local>")
    log.record(sent_entry("<new@mailroom.local>"))
    assert SentLog(path).entries() == [
        old_entry("<old@mailroom.local>"),
        sent_entry("<new@mailroom.local>"),
    ]


async def test_processes_opening_an_old_sqlite_sent_log_at_once_all_record_in_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sent.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sent (message_id TEXT PRIMARY KEY, sent_at TEXT NOT NULL)")
    nodes = [SentLog(path) for _ in range(4)]
    await asyncio.gather(
        *(
            asyncio.to_thread(node.record, sent_entry(f"<{n}@mailroom.local>", minutes=n))
            for n, node in enumerate(nodes)
        )
    )
    assert [e.message_id for e in nodes[0].entries()] == [f"<{n}@mailroom.local>" for n in range(4)]


def test_an_old_postgres_sent_log_keeps_its_mail_and_lists_it(postgres_url: str) -> None:
    migrate(postgres_url, MIGRATIONS[:BEFORE_DETAILS])
    with connect(postgres_url) as db:
        db.execute(
            "INSERT INTO sent (message_id, sent_at) VALUES (%s, %s)",
            ("<old@mailroom.local>", BEFORE),
        )
    migrate(postgres_url)
    log = PostgresSentLog(postgres_url)
    assert log.was_sent("<old@mailroom.local>")
    log.record(sent_entry("<new@mailroom.local>"))
    assert log.entries() == [old_entry("<old@mailroom.local>"), sent_entry("<new@mailroom.local>")]
