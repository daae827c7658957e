"""Automatic mail goes to the envelope sender, and only when someone may read it (RFC 3834 §4)."""

from __future__ import annotations

import pytest

from adapters.inbound.mime import parse_email
from tests.fakes import FakeThreadGateway
from use_cases.ingest import ingest_email
from use_cases.mail import InboundEmail
from use_cases.reply_target import automatic_reply_target


def mail(from_addr: str, return_path: str | None) -> InboundEmail:
    return InboundEmail(message_id="<m@x>", from_addr=from_addr, return_path=return_path)


@pytest.mark.parametrize(
    ("from_addr", "return_path", "target"),
    [
        # the same domain: the person's own address
        ("alice@example.com", "<alice@example.com>", "alice@example.com"),
        ("Alice@Example.com", "<bounces-7@example.com>", "alice@example.com"),
        # a forged From: the third party is never mailed; the envelope sender is
        ("victim@thirdparty.example", "<mallory@evil.example>", "mallory@evil.example"),
        # the envelope sender takes no mail: nobody is
        ("victim@thirdparty.example", "<>", ""),
        ("news@shop.example", "<bounces+x7=a.example@mail.shop-esp.example>", ""),
        ("noreply@example.com", "<noreply@example.com>", ""),
        ("alerts@example.com", "<do-not-reply@example.com>", "alerts@example.com"),
        ("no-reply@example.com", "<bob@example.com>", ""),
        ("MAILER-DAEMON@example.com", "<MAILER-DAEMON@example.com>", ""),
        # the same organisation: a subdomain's bounce handler
        ("alice@corp.example", "<bounce-9@mail.corp.example>", "alice@corp.example"),
        ("alice@shop.co.uk", "<bounces@other.co.uk>", ""),
        # no envelope known (a file replayed without Return-Path): the From is all there is
        ("bob@example.com", None, "bob@example.com"),
        ("", None, ""),
    ],
)
def test_automatic_mail_goes_to_the_envelope_sender(
    from_addr: str, return_path: str | None, target: str
) -> None:
    assert automatic_reply_target(mail(from_addr, return_path)) == target


@pytest.mark.parametrize(
    "envelope",
    [
        "SRS0=HHH=TT=example.com=bob@forwarder.example",
        "SRS1=HHH=fwd1.example==HHH=TT=example.com=bob@fwd2.example",
        "bounces+SRS=abcde=7K=example.com=bob@contoso.example",  # Microsoft 365
    ],
)
async def test_a_forwarded_mail_is_answered_at_its_original_sender(envelope: str) -> None:
    gateway = FakeThreadGateway()
    raw = b"From: bob@example.com\r\nTo: support@mailroom.local\r\nMessage-ID: <f@x>\r\n\r\nhi"
    await ingest_email(
        raw,
        mailboxes=["support@mailroom.local"],
        gateway=gateway,
        parse=parse_email,
        envelope_from=envelope,
    )
    message = gateway.handed_off[0][1]
    assert message.automatic is None and message.reply_target == "bob@example.com"
