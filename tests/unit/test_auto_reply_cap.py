"""The cross-thread cap: one recipient gets at most N automatic mails an hour."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.email import EmailActivities
from adapters.outbound.auto_reply_log import SqliteAutoReplyLog
from adapters.outbound.sqlite_connection import StoreClosed
from tests.fakes import FakeEmailSender
from use_cases.mail import OutboundEmail


def automatic(n: int, to: str = "robot@example.com") -> OutboundEmail:
    return OutboundEmail(
        message_id=f"<ack-{n}@mailroom.local>",
        from_addr="support@mailroom.local",
        to=(to,),
        subject="Re: hi",
        text="got it",
        headers={"Auto-Submitted": "auto-replied"},
    )


async def test_a_robot_opening_thread_after_thread_is_capped_across_threads(
    tmp_path: Path,
) -> None:
    sender = FakeEmailSender()
    activities = EmailActivities(sender, SqliteAutoReplyLog(tmp_path / "a.sqlite"), 3)
    results = [await activities.send_email(automatic(n)) for n in range(6)]
    assert [r.suppressed for r in results] == [False] * 3 + [True] * 3
    assert len(sender.sent) == 3
    other = await activities.send_email(automatic(99, to="human@example.com"))
    assert not other.suppressed, "the cap is per recipient"


async def test_human_written_mail_is_never_capped(tmp_path: Path) -> None:
    sender = FakeEmailSender()
    activities = EmailActivities(sender, SqliteAutoReplyLog(tmp_path / "a.sqlite"), 1)
    for n in range(3):
        mail = automatic(n).model_copy(update={"headers": {}})
        assert not (await activities.send_email(mail)).suppressed
    assert len(sender.sent) == 3


async def test_the_log_forgets_automatic_mail_older_than_a_day(tmp_path: Path) -> None:
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    await log.record(["robot@example.com"], now - timedelta(days=2))
    await log.record(["robot@example.com"], now - timedelta(hours=2))
    await log.record(["robot@example.com"], now)
    ever = now - timedelta(days=30)
    assert await log.sent_since("robot@example.com", ever) == 2
    reopened = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    assert await reopened.sent_since("ROBOT@example.com", now - timedelta(hours=1)) == 1


async def test_a_closed_log_leaves_one_file_that_a_new_log_reads(tmp_path: Path) -> None:
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    await log.record(["robot@example.com"], now)
    assert (tmp_path / "a.sqlite-wal").exists(), "WAL while open"
    await log.close()
    assert sorted(os.listdir(tmp_path)) == ["a.sqlite"], "checkpointed, no WAL left"
    reopened = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    assert await reopened.sent_since("robot@example.com", now - timedelta(hours=1)) == 1
    await reopened.close()


async def test_calls_queued_before_the_close_finish_and_later_ones_are_refused(
    tmp_path: Path,
) -> None:
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    queued = [asyncio.ensure_future(log.record([f"r{n}@example.com"], now)) for n in range(5)]
    # Tasks start in the order they were made: the five queue their writes on the store's
    # thread before either close runs.
    await asyncio.gather(*queued, log.close(), log.close())
    with pytest.raises(StoreClosed):
        await log.record(["late@example.com"], now)
    assert sorted(os.listdir(tmp_path)) == ["a.sqlite"], "nothing reopened the database"
    reopened = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    assert await reopened.sent_since("r4@example.com", now - timedelta(hours=1)) == 1
    await reopened.close()
