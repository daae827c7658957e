"""The Message-ID peek reads the header as the email package's parser reads it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.inbound import mime
from adapters.inbound.mime_peek import NOT_READ, first_message_id_field
from tests.conftest import CORPUS, FIXTURES

LINES = st.sampled_from(
    [
        b"Message-ID: <a@b>",
        b"message-id:\t<x@y> (comment)",
        b"Message-Id:",
        b" <c@d>",
        b"\t<e@f>",
        b"From x@y Sat Dec  5",
        b"From: Ann <ann@example.com>",
        b":no name",
        b"Subject: hi",
        b"X-8bit: \xff",
        b"Message-ID: <\xe9@x>",
        b"",
        b"Message-ID : <q@r>",
        b"a body line",
        b"MESSAGE-ID:<z@z>",
        b"Message-ID: <a@b> <c@d>",
        b"  ",
        b"X:",
    ]
)
ENDS = st.sampled_from([b"\r\n", b"\n", b"\r"])


def agrees(raw: bytes) -> None:
    assert mime._peeked_id(raw) == mime._peeked_id_by_parser(raw), raw


@settings(max_examples=4000, deadline=None)
@given(st.lists(st.tuples(LINES, ENDS), max_size=10))
@example([(b"Subject: x", b"\r"), (b"\n", b"\n")])
def test_any_header_peeks_as_the_parser_reads_it(lines: list[tuple[bytes, bytes]]) -> None:
    agrees(b"".join(line + end for line, end in lines))


def test_every_mail_of_the_corpus_and_fixtures_peeks_as_the_parser_reads_it() -> None:
    mails = [p for root in (CORPUS, FIXTURES) for p in Path(root).rglob("*") if p.is_file()]
    assert len(mails) > 100
    for path in mails:
        raw = path.read_bytes()
        agrees(raw)
        agrees(raw[:200])  # cut inside its header


def test_plain_ascii_ids_are_read_without_the_parser() -> None:
    assert first_message_id_field(b"Subject: a\r\nMessage-ID:\r\n <a@b>\r\n\r\nbody", 999) == (
        "\r\n <a@b>"
    )
    assert first_message_id_field(b"Subject: a\r\n\r\nMessage-ID: <a@b>\r\n", 999) is None
    assert first_message_id_field(b"Message-ID: <\xe9@b>\r\n", 999) is NOT_READ
    assert first_message_id_field(b"Message-ID: <a@b>\r\n", 14) == "<a"  # the peek's limit
