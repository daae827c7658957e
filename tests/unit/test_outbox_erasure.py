"""Erasure reaches the outbox's mails however a mail reader left them: a Maildir client that
shows a mail moves it from new/ to cur/ and adds its flags to the name (`…:2,S`, the Maildir
convention), and one vanishing while erasure reads (moved meanwhile) does not stop it."""

from __future__ import annotations

from pathlib import Path

from adapters.outbound.outbox import MaildirOutbox, maildir_name
from adapters.outbound.person_records import remove_outbox_mail
from use_cases.mail import OutboundEmail

ALICE = "alice@example.com"


async def sent(root: Path, to: str, n: int) -> Path:
    """The outbox's file of a reply to `to`."""
    mail = OutboundEmail(
        message_id=f"<reply-{n}@mailroom.local>",
        from_addr="support@mailroom.local",
        to=(to,),
        subject="re: your order",
        text="it ships on Monday",
    )
    await MaildirOutbox(root).send(mail)
    return root / "new" / maildir_name(mail.message_id)


async def test_a_mail_a_maildir_client_has_read_is_erased_too(tmp_path: Path) -> None:
    read = await sent(tmp_path, ALICE, 1)
    read.rename(tmp_path / "cur" / f"{read.name}:2,S")  # what mutt or Dovecot does
    others = await sent(tmp_path, "bob@example.com", 2)

    assert remove_outbox_mail(tmp_path, ALICE, dry_run=True) == 1
    assert remove_outbox_mail(tmp_path, ALICE, dry_run=False) == 1

    assert list((tmp_path / "cur").iterdir()) == []
    assert others.exists()


async def test_a_mail_gone_while_erasure_reads_does_not_stop_it(tmp_path: Path) -> None:
    await sent(tmp_path, ALICE, 1)
    (tmp_path / "new" / "vanished.eml").symlink_to(tmp_path / "moved-away.eml")

    assert remove_outbox_mail(tmp_path, ALICE, dry_run=False) == 1
