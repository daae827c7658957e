"""The cross-thread cap: one recipient gets at most N automatic mails an hour."""

from __future__ import annotations

from pathlib import Path

from activities.email import EmailActivities
from adapters.outbound.auto_reply_log import SqliteAutoReplyLog
from tests.fakes import FakeEmailSender
from use_cases.models import OutboundEmail


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
