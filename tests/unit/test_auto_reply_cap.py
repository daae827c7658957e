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
from use_cases.reply_cap import AutomaticMailCaps, capped_address


def caps(per_address: int, per_domain: int = 1_000, total: int = 10_000) -> AutomaticMailCaps:
    return AutomaticMailCaps(per_address=per_address, per_domain=per_domain, total=total)


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
    activities = EmailActivities(sender, SqliteAutoReplyLog(tmp_path / "a.sqlite"), caps(3))
    results = [await activities.send_email(automatic(n)) for n in range(6)]
    assert [r.suppressed for r in results] == [False] * 3 + [True] * 3
    assert len(sender.sent) == 3
    other = await activities.send_email(automatic(99, to="human@example.com"))
    assert not other.suppressed, "the cap is per recipient"


async def test_human_written_mail_is_never_capped(tmp_path: Path) -> None:
    sender = FakeEmailSender()
    activities = EmailActivities(sender, SqliteAutoReplyLog(tmp_path / "a.sqlite"), caps(1))
    for n in range(3):
        mail = automatic(n).model_copy(update={"headers": {}})
        assert not (await activities.send_email(mail)).suppressed
    assert len(sender.sent) == 3


async def test_the_log_forgets_automatic_mail_older_than_a_day(tmp_path: Path) -> None:
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    await log.reserve("<1@x>", ["robot@example.com"], now - timedelta(days=2), caps(9))
    await log.reserve("<2@x>", ["robot@example.com"], now - timedelta(hours=2), caps(9))
    await log.reserve("<3@x>", ["robot@example.com"], now, caps(9))
    ever = now - timedelta(days=30)
    assert await log.sent_since("robot@example.com", ever) == 2
    reopened = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    assert await reopened.sent_since("ROBOT@example.com", now - timedelta(hours=1)) == 1


async def test_a_closed_log_leaves_one_file_that_a_new_log_reads(tmp_path: Path) -> None:
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    await log.reserve("<1@x>", ["robot@example.com"], now, caps(9))
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
    queued = [
        asyncio.ensure_future(log.reserve(f"<{n}@x>", [f"r{n}@example.com"], now, caps(9)))
        for n in range(5)
    ]
    # Tasks start in the order they were made: the five queue their writes on the store's
    # thread before either close runs.
    await asyncio.gather(*queued, log.close(), log.close())
    with pytest.raises(StoreClosed):
        await log.reserve("<late@x>", ["late@example.com"], now, caps(9))
    assert sorted(os.listdir(tmp_path)) == ["a.sqlite"], "nothing reopened the database"
    reopened = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    assert await reopened.sent_since("r4@example.com", now - timedelta(hours=1)) == 1
    await reopened.close()


def test_plus_tags_and_gmail_dots_reach_one_person() -> None:
    assert capped_address("Victim+1@Example.com") == "victim@example.com"
    assert capped_address("victim+2@example.com") == "victim@example.com"
    assert capped_address("first.last+x@googlemail.com") == "firstlast@gmail.com"
    assert capped_address("first.last@example.com") == "first.last@example.com"


async def test_a_rotating_address_is_capped_per_person_then_per_domain(tmp_path: Path) -> None:
    sender = FakeEmailSender()
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    activities = EmailActivities(sender, log, caps(2, per_domain=5))
    tagged = [
        await activities.send_email(automatic(n, f"victim+{n}@example.com")) for n in range(4)
    ]
    assert [r.suppressed for r in tagged] == [False, False, True, True], "one person"
    rotated = [
        await activities.send_email(automatic(10 + n, f"r{n}@example.com")) for n in range(5)
    ]
    assert [r.suppressed for r in rotated] == [False, False, False, True, True], "one domain"
    await log.close()


async def test_concurrent_sends_cannot_pass_the_cap_together(tmp_path: Path) -> None:
    sender = FakeEmailSender()
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    activities = EmailActivities(sender, log, caps(3))
    results = await asyncio.gather(*(activities.send_email(automatic(n)) for n in range(12)))
    assert sum(not r.suppressed for r in results) == 3 and len(sender.sent) == 3
    await log.close()


async def test_a_retried_send_is_the_same_mail_not_another_one(tmp_path: Path) -> None:
    sender = FakeEmailSender()
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    activities = EmailActivities(sender, log, caps(1))
    first = await activities.send_email(automatic(0))
    again = await activities.send_email(automatic(0))  # Temporal ran the activity twice
    assert not first.suppressed and not again.suppressed
    assert (await activities.send_email(automatic(1))).suppressed
    await log.close()


async def test_the_total_cap_holds_across_domains(tmp_path: Path) -> None:
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    limits = caps(9, per_domain=9, total=3)
    reasons = [await log.reserve(f"<{n}@x>", [f"a@d{n}.example"], now, limits) for n in range(5)]
    assert reasons[:3] == [None] * 3 and all(r and "in all" in r for r in reasons[3:])
    await log.close()


async def test_a_verified_correspondent_is_capped_per_person_only(tmp_path: Path) -> None:
    """Someone who wrote through the thread's signed reply address is no forged or rotating
    sender: a flood at their domain does not silence them."""
    sender = FakeEmailSender()
    log = SqliteAutoReplyLog(tmp_path / "a.sqlite")
    activities = EmailActivities(sender, log, caps(2, per_domain=1))
    assert not (await activities.send_email(automatic(0, "r0@example.com"))).suppressed
    assert (await activities.send_email(automatic(1, "r1@example.com"))).suppressed
    verified = [
        automatic(n, "alice@example.com").model_copy(update={"recipient_verified": True})
        for n in (2, 3, 4)
    ]
    results = [await activities.send_email(mail) for mail in verified]
    assert [r.suppressed for r in results] == [False, False, True], "still 2 per person"
    await log.close()
