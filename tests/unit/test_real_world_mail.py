"""Real mail from tests/fixtures/corpus and the stdlib's test data: parsing never raises, replies
are reduced to their new text, charsets decode, bounces are recognised."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.inbound.mime import parse_email
from adapters.inbound.reply_text import reply_text
from tests.conftest import CORPUS
from use_cases.automatic import classify, delivery_report
from use_cases.ingest import settle_date
from use_cases.mail import MessageKind

REPLY_CORPUS = CORPUS / "reply-parser"

RIAK_REPLY = (
    "Hi,\n\nYou can list the keys for the bucket and call delete for each. Or if you\n"
    "put the keys (and kept track of them in your test) you can delete them\n"
    "one at a time (without incurring the cost of calling list first.)"
)
NEW_TEXT = {
    "correct_sig.txt": "this is an email with a correct -- signature.",
    "email_1_1.txt": "Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, "
    "values after\nrunning a test?\nI am currently using the Java HTTP API.\n\n-Abhishek Kona",
    "email_1_3.txt": "Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona",
    "email_1_4.txt": "Awesome! I haven't had another problem with it.",
    "email_1_6.txt": "I get proper rendering as well.",
    "email_1_7.txt": ":+1:",
    "email_1_8.txt": "I will reply under this one\n\nand under this.",
    "email_2_1.txt": "Outlook with a reply",
    "email_2_2.txt": "Outlook with a reply directly above line",
    "email_2_3.txt": "Outlook with a reply above headers using unusual format",
    "email_BlackBerry.txt": "Here is another email",
    "email_bullets.txt": "test 2 this should list second\n\nand have spaces\n\n"
    "and retain this formatting\n\n   - how about bullets\n   - and another",
    "email_gmail.txt": "This is a test for inbox replying to a github message.",
    "email_headers_no_delimiter.txt": "And another reply!",
    "email_iPhone.txt": "Here is another email",
    "email_multi_word_sent_from_my_mobile_device.txt": "Here is another email",
    "email_one_is_not_on.txt": "Thank, this is really helpful.\n\nOne outstanding question I "
    "had:\n\nLocally (on development), when I run...",
    "email_sent_from_my_not_signature.txt": "Here is another email\n\nSent from my desk, is "
    "much easier then my mobile phone.",
    "email_sig_delimiter_in_middle_of_line.txt": "Hi there!\n\nStuff happened.\n\nAnd here is a "
    "fix -- this is not a signature.\n\nkthxbai",
    "pathological.txt": "I think you're onto something. I will try to fix the problem as soon "
    "as I\nget back to a computer.",
}
TEXTMATE = (
    "On your remote host you can run:\n\n     telnet 127.0.0.1 52698\n\nThis should connect to "
    "TextMate (on your Mac, via the tunnel). If that\nfails, the tunnel is not working."
)
NEW_TEXT |= {"greedy_on.txt": TEXTMATE, "email_partial_quote_header.txt": TEXTMATE}


def test_the_reply_corpus_is_fully_covered() -> None:
    names = {p.name for p in REPLY_CORPUS.glob("*.txt")}
    assert names - {"email_1_2.txt", "email_1_5.txt"} == set(NEW_TEXT)


@pytest.mark.parametrize("name", sorted(NEW_TEXT))
def test_new_text_of_each_reply_in_the_corpus(name: str) -> None:
    assert reply_text((REPLY_CORPUS / name).read_text()) == NEW_TEXT[name]


def test_an_inline_reply_keeps_the_answers_between_quotes_and_drops_the_list_footer() -> None:
    text = reply_text((REPLY_CORPUS / "email_1_2.txt").read_text())
    assert text.startswith(RIAK_REPLY)
    assert text.endswith('to delete them all individually."')
    assert ">" not in text and "mailing list" not in text and "wrote:" not in text


def test_a_message_without_history_is_kept_whole() -> None:
    original = (REPLY_CORPUS / "email_1_5.txt").read_text()
    assert reply_text(original) == original.strip()


def test_parsed_mail_carries_both_full_and_new_text() -> None:
    body = (REPLY_CORPUS / "email_1_3.txt").read_bytes()
    email = parse_email(b"Message-ID: <r@x>\r\nFrom: a@b.example\r\n\r\n" + body)
    assert email.new_text == NEW_TEXT["email_1_3.txt"]
    assert "Russell Brown wrote:" in email.text


def mail_files() -> list[Path]:
    corpus = [p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE"]
    return sorted(corpus) + stdlib_mail()


def stdlib_mail() -> list[Path]:
    """The stdlib's test_email messages, when this Python build ships its test package."""
    data = Path(sys.modules["email"].__file__ or "").parent.parent / "test" / "test_email" / "data"
    return sorted(data.glob("msg_*.txt")) if data.is_dir() else []


def test_every_corpus_and_stdlib_message_parses_with_its_text_and_addresses() -> None:
    files = mail_files()
    assert len(files) > 150
    for path in files:
        email = parse_email(path.read_bytes())
        assert email.message_id.startswith("<"), path
        assert "\r" not in email.text and "\x00" not in email.text, path
        assert all("@" in a and a == a.lower() for a in (*email.to, *email.cc)), path


DSN_FILES = [
    "ruby-mail/multipart_report_emails/multi_address_bounce1.eml",
    "ruby-mail/multipart_report_emails/multi_address_bounce2.eml",
    "ruby-mail/multipart_report_emails/multipart_report_multiple_status.eml",
    "ruby-mail/multipart_report_emails/report_422.eml",
    "ruby-mail/multipart_report_emails/report_530.eml",
    "ruby-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml",
    "mail-parser/mail_malformed_2",
]


@pytest.mark.parametrize("name", DSN_FILES)
def test_delivery_status_reports_in_the_corpus_are_bounces(name: str) -> None:
    email = parse_email((CORPUS / name).read_bytes())
    assert classify(email).kind is MessageKind.BOUNCE


def test_an_rfc3464_report_names_the_status_recipient_and_bounced_message() -> None:
    email = parse_email((CORPUS / "ruby-mail/multipart_report_emails/report_530.eml").read_bytes())
    report = delivery_report(email)
    assert report.standard and report.action == "failed"
    assert report.status.startswith("5.")
    assert report.recipients and "@" in report.recipients[0]
    assert report.original_message_id is not None


def test_a_delay_notice_is_a_bounce_with_action_delayed() -> None:
    email = parse_email((CORPUS / "ruby-mail/multipart_report_emails/report_422.eml").read_bytes())
    assert delivery_report(email).action == "delayed"


def test_human_corpus_mail_is_not_taken_for_a_bounce() -> None:
    for name in ("ruby-mail/plain_emails/basic_email.eml", "mail-parser/mail_test_14"):
        assert classify(parse_email((CORPUS / name).read_bytes())).kind is MessageKind.HUMAN


@pytest.mark.parametrize(
    ("name", "subject", "text"),
    [
        ("ruby-mail/multi_charset/japanese_iso_2022.eml", "まみむめも", "すみません。"),
        ("ruby-mail/multi_charset/japanese_shift_jis.eml", "test", "あいうえお"),
        ("ruby-mail/multi_charset/ks_c_5601-1987.eml", "test", "스티해"),
        # UTF-8 labelled GB2312
        ("mail-parser/mail_test_12", "代开各地增值税发票", "我公司可代开"),
        ("ruby-mail/error_emails/invalid_subject_characters.eml", "Formação FrenetikPolis", ""),
    ],
)
def test_charsets_the_stdlib_mishandles_decode_to_readable_text(
    name: str, subject: str, text: str
) -> None:
    email = parse_email((CORPUS / name).read_bytes())
    assert email.subject.startswith(subject)
    assert text in email.text
    assert "\ufffd" not in email.subject + email.text


def test_utf7_and_unknown_charsets_never_raise() -> None:
    utf7 = "Grüße €".encode("utf-7")
    raw = b"Content-Type: text/plain; charset=utf-7\r\n\r\n" + utf7
    assert parse_email(raw).text == "Grüße €"
    unknown = parse_email(b"Content-Type: text/plain; charset=x-klingon\r\n\r\ncaf\xe9")
    assert unknown.text == "café" and any("x-klingon" in d for d in unknown.defects)


def test_addresses_are_decoded_lower_cased_and_idna_encoded() -> None:
    raw = (
        "From: =?utf-8?q?J=C3=B8rn_St=C3=B8ylen?= <Jorn@Bücher.Example>\r\n"
        'To: "Support, Team" <SUPPORT@mailroom.local>, x@xn--bcher-kva.example\r\n'
        "Reply-To: <reply@b.example>\r\n\r\nhi"
    ).encode()
    email = parse_email(raw)
    assert (email.from_name, email.from_addr) == ("Jørn Støylen", "jorn@xn--bcher-kva.example")
    assert email.to == ("support@mailroom.local", "x@xn--bcher-kva.example")
    assert email.reply_to == ("reply@b.example",)


def test_a_broken_or_missing_date_becomes_the_arrival_time_with_a_defect() -> None:
    arrival = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    for raw in (b"Date: yesterday-ish\r\n\r\nhi", b"Subject: x\r\n\r\nhi"):
        email = settle_date(parse_email(raw), arrival)
        assert email.date == arrival
        assert any("arrival time" in d for d in email.defects)
    future = parse_email(b"Date: Mon, 30 Jun 3609 15:33:50 +0600\r\n\r\nhi")
    assert settle_date(future, arrival).date == arrival
    good = parse_email(b"Date: Sat, 21 Nov 2026 10:30:00 -0000\r\n\r\nhi")
    assert settle_date(good, arrival).date == datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


def test_attachments_are_listed_with_name_type_size_and_hash() -> None:
    email = parse_email((CORPUS / "ruby-mail/attachment_emails/attachment_pdf.eml").read_bytes())
    pdf = next(a for a in email.attachments if a.content_type == "application/pdf")
    data = email.contents[email.attachments.index(pdf)]
    assert pdf.filename.endswith(".pdf") and pdf.size == len(data) > 1000
    assert data.startswith(b"%PDF")
    encoded = parse_email(
        (CORPUS / "ruby-mail/attachment_emails/attachment_with_encoded_name.eml").read_bytes()
    )
    assert all("=?" not in a.filename for a in encoded.attachments)
    assert "contents" not in email.model_dump_json()


def test_a_forwarded_message_is_an_attachment_not_the_body() -> None:
    inner = b"From: c@d.example\r\nSubject: inner\r\n\r\nSECRET INNER TEXT\r\n"
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        b"see below\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    email = parse_email(raw)
    assert email.text.strip() == "see below"
    assert [a.content_type for a in email.attachments] == ["message/rfc822"]
