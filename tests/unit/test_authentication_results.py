"""The operator's MTA's verdict (RFC 8601) is believed; any other Authentication-Results is
what the sender wrote."""

from __future__ import annotations

import pytest

from adapters.inbound.authentication import TrustedAuthenticationResults
from adapters.inbound.mime import parse_email
from tests.fakes import FakeThreadGateway
from use_cases.ingest import ingest_email

OURS = "mx.corp.example"


def mail(*results: str, sender: str = "boss@corp.example") -> bytes:
    headers = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (
        f"{headers}From: {sender}\r\nTo: procurement@mailroom.local\r\nSubject: Re: x\r\n"
        "Message-ID: <ar@corp.example>\r\n\r\napprove\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("results", "vouched"),
    [
        ((f"{OURS}; dmarc=pass (p=reject) header.from=corp.example",), True),
        ((f"{OURS}; dkim=pass header.d=corp.example header.s=s1; spf=fail",), True),
        (("MX.Corp.Example; dmarc=pass header.from=corp.example",), True),
        # our MTA says it failed, or vouches for another domain
        ((f"{OURS}; dmarc=fail header.from=corp.example",), False),
        ((f"{OURS}; dkim=pass header.d=mailer.example; dmarc=none",), False),
        ((f"{OURS}; spf=pass smtp.mailfrom=corp.example",), False),
        # the sender's own claim, under another name
        (("evil.example; dmarc=pass header.from=corp.example",), False),
        ((), False),
        (("garbage ;;; ===",), False),
        # a second header with our name: one of them was written by the sender
        (
            (
                f"{OURS}; dmarc=fail header.from=corp.example",
                f"{OURS}; dmarc=pass header.from=corp.example",
            ),
            False,
        ),
        # ours unreadable: the forged one below it is not read instead
        (
            (f"{OURS}; dmarc=pass header.from=", f"{OURS}; dmarc=pass header.from=corp.example"),
            False,
        ),
    ],
)
def test_only_our_mtas_verdict_for_the_from_domain_counts(
    results: tuple[str, ...], vouched: bool
) -> None:
    check = TrustedAuthenticationResults(OURS)
    assert check(mail(*results), "boss@corp.example") is vouched


def test_without_a_configured_authserv_id_nothing_is_believed() -> None:
    raw = mail(f"{OURS}; dmarc=pass header.from=corp.example")
    assert TrustedAuthenticationResults("")(raw, "boss@corp.example") is False


async def test_ingest_marks_the_vouched_sender_who_then_may_be_answered_across_domains() -> None:
    gateway = FakeThreadGateway()
    raw = mail(f"{OURS}; dmarc=pass header.from=corp.example")
    await ingest_email(
        raw,
        mailboxes=["procurement@mailroom.local"],
        gateway=gateway,
        parse=parse_email,
        envelope_from="bounces@esp.example",
        authenticate=TrustedAuthenticationResults(OURS),
    )
    message = gateway.handed_off[0][1]
    assert message.from_authenticated and message.reply_target == "boss@corp.example"


def test_a_mail_with_two_from_addresses_gets_no_verdict() -> None:
    raw = mail(
        f"{OURS}; dmarc=pass header.from=corp.example", sender="boss@corp.example, x@y.example"
    )
    assert TrustedAuthenticationResults(OURS)(raw, "boss@corp.example") is False
