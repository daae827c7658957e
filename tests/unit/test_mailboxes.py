from __future__ import annotations

from use_cases.mailboxes import Mailboxes


def test_any_local_part_at_an_accepted_domain_without_a_mailbox_list() -> None:
    boxes = Mailboxes(["mailroom.local"])
    assert boxes.resolve("Sales@MailRoom.local") == "sales@mailroom.local"
    assert boxes.resolve("<sales@mailroom.local>") == "sales@mailroom.local"
    assert boxes.resolve("sales@elsewhere.example") is None
    assert boxes.resolve("not-an-address") is None


def test_only_listed_mailboxes_and_their_subaddresses_when_listed() -> None:
    boxes = Mailboxes(["mailroom.local"], ["support@mailroom.local"])
    assert boxes.resolve("support+t0k3n@mailroom.local") == "support@mailroom.local"
    assert boxes.resolve("sales@mailroom.local") is None
    assert boxes.resolve_all(["support@mailroom.local", "SUPPORT@mailroom.local", "x@y"]) == [
        "support@mailroom.local"
    ]
