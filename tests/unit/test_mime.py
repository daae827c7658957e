from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.inbound.mime import generated_message_id, parse_email, peek_message_id
from tests.conftest import CORPUS, FIXTURES


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_reads_the_threading_headers_addresses_and_body() -> None:
    email = parse_email(fixture("support_reply.eml"))
    assert email.message_id == "<question-2@example.com>"
    assert email.in_reply_to == "<question-1@example.com>"
    assert email.references == ("<question-1@example.com>",)
    assert (email.from_name, email.from_addr) == ("Alice Example", "alice@example.com")
    assert email.to == ("support@mailroom.local",)
    assert email.subject == "Re: Printer on fire"
    assert email.date == datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    assert "It is out now" in email.text


def test_html_only_mail_becomes_readable_text_and_encoded_words_are_decoded() -> None:
    email = parse_email(fixture("html_only.eml"))
    assert email.subject == "Rechnung für November"
    assert email.from_name == "Dana Müller"
    assert "<" not in email.text and "color" not in email.text
    assert "die Rechnung für November fehlt." in email.text
    assert "* Kunde 4711" in email.text


def test_missing_message_id_is_generated_from_the_content_deterministically() -> None:
    raw = fixture("no_message_id.eml")
    first, again = parse_email(raw), parse_email(raw)
    assert first.message_id_generated
    assert first.message_id == again.message_id == generated_message_id(raw)
    assert parse_email(raw + b"more").message_id != first.message_id
    assert peek_message_id(raw) == first.message_id


def test_cc_addresses_and_auto_submitted_are_read() -> None:
    assert parse_email(fixture("rfq.eml")).cc == ("carol@corp.example",)
    assert parse_email(fixture("auto_reply.eml")).auto_submitted == "auto-replied"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"Subject: =?unknown-charset?q?abc?=\r\nContent-Type: text/plain; charset=x-nonsense\r\n"
        b"\r\n\xe9\xe9",
        b"Date: not a date\r\nFrom: <<<>>>\r\nReferences: <a@b> junk <c@d>\r\n\r\nbody",
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
    ],
)
def test_hostile_bytes_never_raise(raw: bytes) -> None:
    email = parse_email(raw)
    assert email.message_id.startswith("<")


def test_broken_date_is_a_defect_not_an_error() -> None:
    email = parse_email(b"Date: yesterday-ish\r\nMessage-ID: <x@y>\r\n\r\nhi")
    assert email.date is None
    assert any("Date" in d for d in email.defects)


def corpus_files() -> list[Path]:
    skipped = {"LICENSE", "README.md"}
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in skipped)


def test_every_corpus_message_parses() -> None:
    files = corpus_files()
    assert len(files) > 100, f"corpus not found under {CORPUS}"
    for path in files:
        email = parse_email(path.read_bytes())
        assert email.message_id, path
