"""What `mailroom outbox` lists: the built-in outbox's mail and the relayed mail, each
Message-ID once, oldest first, and a summary of where they came from."""

from __future__ import annotations

from pathlib import Path

from orchestrator.sent_mail import sent_mail, where_from
from tests.outbox_entries import sent_entry

OUTBOX = Path("/data/outbox")


def test_outbox_and_relayed_mail_are_listed_together_oldest_first() -> None:
    kept, relayed = sent_entry("<b@x>", minutes=2), sent_entry("<a@x>", minutes=1)
    listed = sent_mail([kept], [sent_entry("<c@x>", minutes=3), relayed])
    assert [(m.entry.message_id, m.via) for m in listed] == [
        ("<a@x>", "relay"),
        ("<b@x>", "outbox"),
        ("<c@x>", "relay"),
    ]


def test_a_mail_in_the_outbox_and_the_sent_log_is_listed_once_from_the_outbox() -> None:
    listed = sent_mail([sent_entry("<a@x>")], [sent_entry("<a@x>", minutes=1)])
    assert [(m.entry.sent_at, m.via) for m in listed] == [(sent_entry("<a@x>").sent_at, "outbox")]


def test_the_summary_says_where_the_mail_came_from() -> None:
    kept, relayed = sent_mail([sent_entry("<a@x>")], []), sent_mail([], [sent_entry("<a@x>")])
    both = sent_mail([sent_entry("<a@x>")], [sent_entry("<b@x>"), sent_entry("<c@x>")])
    assert where_from(kept, OUTBOX) == "1 mail in /data/outbox"
    assert where_from(relayed, OUTBOX) == "1 mail relayed"
    assert where_from(both, OUTBOX) == "3 mails: 1 in /data/outbox, 2 relayed"
    assert where_from([], OUTBOX) == "0 mails in /data/outbox"


def test_the_json_of_a_listed_mail_is_the_outbox_entry_and_where_it_went() -> None:
    (mail,) = sent_mail([], [sent_entry("<a@x>")])
    assert mail.public() == {**sent_entry("<a@x>").model_dump(mode="json"), "via": "relay"}
