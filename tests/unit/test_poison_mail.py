"""Poison mail parses: a charset that is no text encoding, refuses errors="replace", or yields
a lone surrogate is read as an unknown one (Windows-1252, with a defect), nothing raises, and
what leaves the parser is printable and serialises to JSON."""

from __future__ import annotations

import re
import time
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


def quoted_semicolons(chars: int, *, folded: bool) -> str:
    """`a=";;;…"`: the stdlib rescans the header from its start for each `;` in quotes."""
    line = ";" * 900
    lines = [line] * (chars // len(line)) + [";" * (chars % len(line))]
    return 'a="' + ("\r\n " if folded else "").join(lines) + '"'


def crafted_mail(header: str, chars: int, *, folded: bool) -> bytes:
    """A multipart mail whose Content-Type or attachment's Content-Disposition carries
    `chars` quoted semicolons ahead of the parameters the parser reads."""
    poison = quoted_semicolons(chars, folded=folded)
    ctype = f"multipart/mixed; {poison}; boundary=b" if header == "content-type" else ""
    disposition = f"attachment; {poison}; filename=report.pdf" if ctype == "" else ""
    return (
        "From: a@example.com\r\nMessage-ID: <crafted@example.com>\r\n"
        f"Content-Type: {ctype or 'multipart/mixed; boundary=b'}\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        f"Content-Disposition: {disposition or 'attachment; filename=report.pdf'}\r\n\r\n"
        "%PDF\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize("folded", [False, True], ids=["one-line", "folded"])
@pytest.mark.parametrize("header", ["content-type", "content-disposition"])
@pytest.mark.parametrize("kib", [7, 64, 256])
def test_a_parameter_header_of_quoted_semicolons_is_cut_and_read_in_bounded_time(
    kib: int, header: str, folded: bool
) -> None:
    raw = crafted_mail(header, kib * 1024, folded=folded)
    started = time.process_time()
    email = parse_email(raw)
    cpu = time.process_time() - started
    name = "Content-Type" if header == "content-type" else "Content-Disposition"
    assert email.message_id == "<crafted@example.com>"
    [cut] = [d for d in email.defects if d.startswith(f"{name} of ")]
    assert re.fullmatch(
        rf"{name} of \d+ characters cut to \d+: \d+ of its \d+ parameters kept", cut
    )
    if kib < 256:  # the parameters after it are read (a value is split up to 256 KB)
        assert email.text == "hello"
        assert [a.filename for a in email.attachments] == ["report.pdf"]
    assert cpu < 2  # the 256 KB one took minutes before the cut; a few tens of ms after


@pytest.mark.parametrize(
    "params",
    [";" * 300_000, "a=b;" * 75_000, "".join(f"n*{i}*=a;" for i in range(30_000))],
    ids=["bare-semicolons", "many-parameters", "rfc2231-continuations"],
)
def test_a_content_type_of_many_parameters_is_cut_in_bounded_time(params: str) -> None:
    raw = f"Content-Type: text/plain; charset=utf-8; {params}\r\n\r\nhello".encode()
    started = time.process_time()
    email = parse_email(raw)
    assert time.process_time() - started < 2  # each took 1-5 s before the cut
    assert email.text == "hello"
    assert any(d.startswith("Content-Type of ") and "cut to" in d for d in email.defects)


def test_a_legitimate_long_file_name_is_not_cut() -> None:
    """A 255-character file name in percent-encoded UTF-8 and RFC 2231 continuations, as
    Thunderbird writes it: about 2.3 KB and 30 parameters, under the limits."""
    name = "é" * 255
    encoded = "".join(f"%{b:02X}" for b in name.encode())
    pieces = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
    continued = ";\r\n ".join(
        f"filename*{i}*={'utf-8' + chr(39) * 2 if i == 0 else ''}{p}" for i, p in enumerate(pieces)
    )
    raw = (
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        f"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n {continued}\r\n"
        "\r\n%PDF\r\n--b--\r\n"
    ).encode()
    email = parse_email(raw)
    assert [a.filename for a in email.attachments] == [name]
    assert not any("cut to" in d for d in email.defects)


def test_a_bounce_recipient_of_quoted_semicolons_is_cut_in_bounded_time() -> None:
    """flufl.bounce's DSN detector reads Final-Recipient's parameters with the same stdlib."""
    raw = (
        "From: MAILER-DAEMON@example.com\r\nSubject: Undelivered Mail\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        f"Action: failed\r\nFinal-Recipient: x; {quoted_semicolons(256 * 1024, folded=False)}"
        "\r\nStatus: 5.0.0\r\n\r\n--b--\r\n"
    ).encode()
    started = time.process_time()
    email = parse_email(raw)
    assert time.process_time() - started < 2  # 0.6 s at 32 KB before the cut, quadratic
    assert email.report_type == "delivery-status"
    assert any(d.startswith("Final-Recipient of 262") for d in email.defects)
