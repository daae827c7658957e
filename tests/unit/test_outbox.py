from __future__ import annotations

import shutil
from datetime import UTC, datetime
from email import policy
from email.message import Message
from pathlib import Path

from adapters.outbound.mime_out import CachedHeaderRegistry, to_mime
from adapters.outbound.outbox import MaildirOutbox
from adapters.outbound.outbox_entry import entry_of
from use_cases.mail import OutboundEmail


def reply(message_id: str = "<ack-1@mailroom.local>") -> OutboundEmail:
    return OutboundEmail(
        message_id=message_id,
        from_addr="support@mailroom.local",
        to=("alice@example.com",),
        subject="Re: Printer on fire",
        text="We got it.",
        in_reply_to="<q1@example.com>",
        references=("<root@example.com>", "<q1@example.com>"),
        reply_to="support@mailroom.local",
        headers={"Auto-Submitted": "auto-replied"},
    )


async def test_the_same_message_id_is_delivered_once(tmp_path: Path) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    first = await outbox.send(reply())
    again = await outbox.send(reply())
    assert (first.already_sent, again.already_sent) == (False, True)
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []


async def test_an_outbox_removed_while_running_is_made_again_on_the_next_send(
    tmp_path: Path,
) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    await outbox.send(reply("<a@mailroom.local>"))
    shutil.rmtree(tmp_path / "outbox")
    sent = await outbox.send(reply("<b@mailroom.local>"))
    assert not sent.already_sent
    assert [e.message_id for e in outbox.entries()] == ["<b@mailroom.local>"]


async def test_entries_carry_the_threading_headers(tmp_path: Path) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    await outbox.send(reply())
    await outbox.send(reply("<ack-2@mailroom.local>"))
    entries = outbox.entries()
    assert [e.message_id for e in entries] == ["<ack-1@mailroom.local>", "<ack-2@mailroom.local>"]
    entry = entries[0]
    assert entry.to == ["alice@example.com"]
    assert entry.in_reply_to == "<q1@example.com>"
    assert entry.references == ["<root@example.com>", "<q1@example.com>"]
    assert entry.reply_to == "support@mailroom.local"
    assert entry.sent_at.tzinfo is not None


def test_an_empty_outbox_lists_nothing(tmp_path: Path) -> None:
    assert MaildirOutbox(tmp_path / "missing").entries() == []


def test_replies_are_built_byte_for_byte_as_the_stdlib_builds_them() -> None:
    """The header-class cache changes the cost of building a reply, not the reply."""
    mail = OutboundEmail(
        message_id="<r1@mailroom.local>",
        from_addr="support@mailroom.local",
        to=("Jörg Müller <j@example.com>", "b@example.com"),
        subject="Re: Passwort zurücksetzen ✓ " + "lang " * 30,
        text="Grüße\n" * 5,
        in_reply_to="<x@y>",
        references=("<w@y>", "<x@y>"),
        reply_to="support+token@mailroom.local",
        headers={"Auto-Submitted": "auto-replied"},
    )
    at = datetime(2026, 11, 22, tzinfo=UTC)
    stdlib = to_mime(mail, sent_at=at, mime_policy=policy.default).as_bytes()
    for _ in range(2):  # the second one is built from cached header classes
        ours = to_mime(mail, sent_at=at)
        assert isinstance(getattr(ours.policy, "header_factory", None), CachedHeaderRegistry)
        assert ours.as_bytes() == stdlib


async def test_a_recipient_whose_name_holds_a_comma_is_listed_as_one(tmp_path: Path) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    mail = reply().model_copy(update={"to": ('"Doe, John" <john@example.com>', "bob@example.com")})
    await outbox.send(mail)
    (entry,) = outbox.entries()
    assert entry.to == ['"Doe, John" <john@example.com>', "bob@example.com"]


def test_an_entry_read_from_plain_headers_keeps_a_quoted_comma_in_a_name() -> None:
    headers = Message()
    headers["To"] = '"Doe, John" <john@example.com>, bob@example.com'
    entry = entry_of(headers, datetime(2026, 3, 2, tzinfo=UTC))
    assert entry.to == ['"Doe, John" <john@example.com>', "bob@example.com"]


async def test_a_mail_a_maildir_reader_marked_read_is_not_sent_again(tmp_path: Path) -> None:
    """mutt or Dovecot move a read mail to cur/ and add `:2,` with its flags: a retried
    send must still find it, and `mailroom outbox` still list it."""
    outbox = MaildirOutbox(tmp_path / "outbox")
    await outbox.send(reply())
    [sent] = (tmp_path / "outbox" / "new").iterdir()
    sent.rename(tmp_path / "outbox" / "cur" / f"{sent.name}:2,RS")
    again = await outbox.send(reply())
    assert again.already_sent
    assert list((tmp_path / "outbox" / "new").iterdir()) == []
    assert [e.message_id for e in outbox.entries()] == ["<ack-1@mailroom.local>"]
