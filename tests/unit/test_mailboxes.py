from __future__ import annotations

import pytest

from orchestrator.settings import SettingsError, load_settings
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


def test_local_parts_outside_rfc_5321_dot_atom_are_not_mailboxes() -> None:
    """A local part becomes a thread's name and the From: of our mail: paths, quoted
    strings, routing tricks and empty atoms are refused, not turned into mailboxes."""
    boxes = Mailboxes(["mailroom.local"])
    for hostile in (
        "../../etc@mailroom.local",
        "a/b@mailroom.local",
        '"user@evil.com"@mailroom.local',
        '"sales"@mailroom.local',
        "user%evil.com@mailroom.local",
        "evil.com!user@mailroom.local",
        ".sales@mailroom.local",
        "sales.@mailroom.local",
        "sa..les@mailroom.local",
        "sa les@mailroom.local",
        "+tag@mailroom.local",
        "sales.+tag@mailroom.local",
        "ventes\u00e9@mailroom.local",
        f"{'a' * 65}@mailroom.local",
        "@mailroom.local",
    ):
        assert boxes.resolve(hostile) is None, hostile
    assert boxes.resolve(f"{'a' * 64}@mailroom.local") == f"{'a' * 64}@mailroom.local"
    assert boxes.resolve("first.last-2=x@mailroom.local") == "first.last-2=x@mailroom.local"


def test_a_sub_address_feeds_its_mailbox_whatever_the_tag() -> None:
    boxes = Mailboxes(["mailroom.local"])
    assert boxes.resolve("sales+a+b@mailroom.local") == "sales@mailroom.local"
    assert boxes.resolve("sales+@mailroom.local") == "sales@mailroom.local"


def test_postmaster_is_accepted_bare_or_at_any_of_our_domains_even_when_unlisted() -> None:
    """RFC 5321 §4.5.1: case-insensitive, with or without a domain."""
    boxes = Mailboxes(["mailroom.local", "example.org"], ["support@mailroom.local"])
    for address in (
        "postmaster",
        "<Postmaster>",
        "POSTMASTER@mailroom.local",
        "postmaster@Example.org",
        "postmaster+bounce@example.org",
    ):
        assert boxes.resolve(address) == "postmaster@mailroom.local", address
    assert boxes.resolve("postmaster@elsewhere.example") is None


def test_postmaster_can_feed_one_of_our_mailboxes() -> None:
    boxes = Mailboxes(["mailroom.local"], ["support@mailroom.local"], "support@mailroom.local")
    assert boxes.resolve("postmaster") == "support@mailroom.local"
    assert boxes.resolve_all(["postmaster@mailroom.local", "support@mailroom.local"]) == [
        "support@mailroom.local"
    ]


def test_mailbox_settings_are_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="MAILROOM_MAILBOXES: required"):
        load_settings(require_mailboxes=True, mailboxes=[])
    with pytest.raises(SettingsError, match=r"MAILROOM_MAILBOXES: .*dot-atom"):
        load_settings(mailboxes="../x@mailroom.local")
    with pytest.raises(SettingsError, match=r"MAILROOM_POSTMASTER: .*not an address at one"):
        load_settings(postmaster="ops@elsewhere.example")
    with pytest.raises(SettingsError, match="MAILROOM_SMTP_RATE_EXCEPTIONS: 'nope'"):
        load_settings(smtp_rate_exceptions="127.0.0.1,nope")
    settings = load_settings(require_mailboxes=True, mailboxes="support@mailroom.local")
    assert settings.mailboxes == ["support@mailroom.local"]
    assert load_settings(postmaster="Ops@MailRoom.local").postmaster == "Ops@MailRoom.local"


def test_an_idn_domain_matches_in_either_form_and_a_trailing_dot_is_ignored() -> None:
    """An MTA without SMTPUTF8 sends `xn--bcher-kva.example`; one with it may send
    `bücher.example`: both reach the mailbox, whichever form was configured."""
    for configured in ("bücher.example", "xn--bcher-kva.example", "Bücher.Example."):
        boxes = Mailboxes([configured], [f"info@{configured}"])
        for written in (
            "info@xn--bcher-kva.example",
            "info@bücher.example",
            "Info@BÜCHER.example",
            "info+tag@XN--BCHER-KVA.example.",
        ):
            assert boxes.resolve(written) == "info@xn--bcher-kva.example", (configured, written)
        assert boxes.resolve("postmaster@bücher.example") == "postmaster@xn--bcher-kva.example"
    boxes = Mailboxes(["mailroom.local"])
    assert boxes.resolve("support@mailroom.local.") == "support@mailroom.local"
    assert boxes.resolve("support@mailroom.local..") is None
    assert boxes.resolve("support@b\u00fc..example") is None  # no domain name at all


def test_a_local_part_that_only_lowers_to_ascii_is_not_a_mailbox() -> None:
    """`\u212aelvin` (the Kelvin sign) lowers to `kelvin`: checked for ASCII first."""
    for boxes in (
        Mailboxes(["mailroom.local"]),
        Mailboxes(["mailroom.local"], ["kelvin@mailroom.local"]),
    ):
        assert boxes.resolve("\u212aelvin@mailroom.local") is None
        assert boxes.resolve("KELVIN@mailroom.local") == "kelvin@mailroom.local"


def test_listed_mailboxes_and_domains_in_any_case_or_form_are_accepted_in_one() -> None:
    settings = load_settings(
        domains=["Example.COM", "Bücher.example."],
        mailboxes=["Support@example.com", "info@xn--bcher-kva.example"],
        postmaster="Ops@BÜCHER.example",
    )
    assert settings.domains == ["example.com", "xn--bcher-kva.example"]
    assert settings.mailboxes == ["support@example.com", "info@xn--bcher-kva.example"]
    boxes = Mailboxes(settings.domains, settings.mailboxes, settings.postmaster)
    assert boxes.resolve("SUPPORT@example.com.") == "support@example.com"
    assert boxes.resolve("postmaster") == "ops@xn--bcher-kva.example"


def test_a_listed_mailbox_that_could_never_receive_mail_is_refused_at_start() -> None:
    """`sales+eu@` is the sub-address `eu` of `sales@`: mail to it never reaches `sales+eu`."""
    with pytest.raises(SettingsError, match=r"MAILROOM_MAILBOXES: 'sales\+eu@.*sub-address"):
        load_settings(mailboxes="sales+eu@mailroom.local")
    with pytest.raises(SettingsError, match=r"MAILROOM_MAILBOXES: .*dot-atom"):
        load_settings(mailboxes="\u212aelvin@mailroom.local")
    with pytest.raises(SettingsError, match=r"MAILROOM_DOMAINS: .*not a domain name"):
        load_settings(domains="b\u00fc..example")
