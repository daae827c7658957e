"""Automatic mail goes to the envelope sender, and only when someone may read it (RFC 3834 §4)."""

from __future__ import annotations

import pytest

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
        # no envelope known (a file replayed without Return-Path): the From is all there is
        ("bob@example.com", None, "bob@example.com"),
        ("", None, ""),
    ],
)
def test_automatic_mail_goes_to_the_envelope_sender(
    from_addr: str, return_path: str | None, target: str
) -> None:
    assert automatic_reply_target(mail(from_addr, return_path)) == target
