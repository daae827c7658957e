"""Poison mail parses: a charset that is no text encoding, refuses errors="replace", or yields
a lone surrogate is read as an unknown one (Windows-1252, with a defect), nothing raises, and
what leaves the parser is printable and serialises to JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.inbound import mime
from adapters.inbound.charsets import decode_text, printable_line, printable_text
from adapters.inbound.mime import parse_email
from tests.poison import LONE_SURROGATES, POISON_LABELS, poison_mail, surrogate_mail
from use_cases.ingest import to_new_message
from use_cases.threading import thread_key

MAILBOX = "support@mailroom.local"


@pytest.mark.parametrize("label", POISON_LABELS)
def test_a_poison_charset_is_read_as_an_unknown_one_everywhere(label: str) -> None:
    email = parse_email(poison_mail(label, "<p@x>"))
    assert email.subject == f"Poison {label}: café c red"  # the ESC of "\x1bc" is dropped
    assert email.from_name == "café c red"
    assert email.from_addr == "alice@customer.example"
    assert "the body, café" in email.text
    assert [a.filename for a in email.attachments] == ["café c red.txt"]
    assert f"unknown charset {label!r}: read as cp1252" in email.defects
    message = to_new_message(email, thread_key(email, mailbox=MAILBOX), datetime.now(UTC))
    assert "café" in message.model_dump_json()


@pytest.mark.parametrize(("label", "payload"), LONE_SURROGATES)
def test_a_lone_surrogate_becomes_a_replacement_character(label: str, payload: str) -> None:
    email = parse_email(surrogate_mail(label, payload, "<s@x>"))
    assert email.subject == "Lone \ufffd surrogate"
    assert email.from_name == "\ufffd"
    assert email.text == "body \ufffd end\n"
    assert any("lone surrogate" in d for d in email.defects)
    email.model_dump_json()  # a surrogate would make this raise


@pytest.mark.parametrize(
    ("data", "label"),
    [(b"x\xff", "rot13"), (b"\xff\xfe", "idna"), (b"abc\xe9", "punycode"), (b"a", "undefined")],
)
def test_decode_text_never_raises_and_says_what_it_did(data: bytes, label: str) -> None:
    text, defect = decode_text(data, label)
    assert text == data.decode("cp1252", "replace")
    assert defect is not None and label in defect


def test_control_characters_never_leave_the_parser() -> None:
    raw = (
        b"Message-ID: <c\x1bd@x>\r\nFrom: =?utf-8?q?Eve=1B=5B2J=0AEvil?= <eve@x.example>\r\n"
        b"Subject: =?utf-8?q?pay=0D=0Anow=00=C2=9B?=\r\n\r\n"
        b"line\x1b[31m one\r\nline\x07 two\x00\r\n"
    )
    email = parse_email(raw)
    assert email.message_id_generated  # an id with ESC in it is no id
    assert email.from_name == "Eve[2J Evil"
    assert email.subject == "pay now"
    assert email.text == "line[31m one\nline two\n"
    assert printable_line("a\tb\u2028c\x85d") == "a b c d"
    assert printable_text("a\r\nb\rc\x0cd\ud800") == "a\nb\ncd\ufffd"


def test_a_failure_nobody_foresaw_still_yields_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_msg: object) -> dict[str, list[str]]:
        raise RuntimeError("a path nobody foresaw")

    monkeypatch.setattr(mime, "raw_headers", broken)
    email = parse_email(b"Message-ID: <kept@x>\r\nSubject: hi\r\n\r\nbody")
    assert (email.message_id, email.message_id_generated) == ("<kept@x>", False)
    assert email.defects == (
        "unparseable message, kept unread: RuntimeError('a path nobody foresaw')",
    )
