"""The plain-path fast reading of MAIL FROM / RCPT TO gives what aiosmtpd's parser gives."""

from __future__ import annotations

from types import SimpleNamespace

from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.inbound.smtp_paths import plain_path

PIECES = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        "-",
        "!",
        "'",
        "=",
        "{",
        ".",
        "..",
        "@",
        "<",
        ">",
        " ",
        "\t",
        "(",
        ")",
        '"',
        "\\",
        ":",
        ",",
        "[",
        "]",
        "é",
        "\x0b",
        "\u2003",
        "SIZE=100",
        "BODY=8BITMIME",
        "xn--",
        "=?",
        "?=",
        "=?utf-8?q?abc?=",
    ]
)
LABEL = st.text(alphabet="abcXYZ019-", min_size=1, max_size=6)
LOCAL = st.one_of(
    st.text(alphabet="abcXYZ019!#$%&'*+/=?^_`{|}~-.", min_size=1, max_size=12),
    st.sampled_from(["=?utf-8?q?abc?=", "=?utf-8?q?a=40b?=", "=?x", "a=?b?="]),
)
TAIL = st.text(alphabet=st.sampled_from([" ", "\t", "(", ")", "x", "=", "1", "\u2003"]), max_size=8)


def aiosmtpd_reading(arg: str, limit: int) -> tuple[str | None, str | None]:
    """aiosmtpd's own `_getaddr`, which reads nothing of its SMTP object but the limit."""
    smtp: SMTP = SimpleNamespace(local_part_limit=limit)  # type: ignore[assignment]
    reading: tuple[str | None, str | None] = SMTP._getaddr(smtp, arg)
    return reading


def agrees(arg: str, limit: int) -> None:
    fast = plain_path(arg, limit)
    if fast is not None:
        assert fast == aiosmtpd_reading(arg, limit), arg


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join), st.sampled_from([0, 3, 64]))
@example("<a@b>", 0)
def test_any_argument_reads_as_aiosmtpd_reads_it(arg: str, limit: int) -> None:
    agrees(arg, limit)


@settings(max_examples=3000, deadline=None)
@given(LOCAL, st.lists(LABEL, min_size=1, max_size=4), TAIL, st.sampled_from([0, 4, 64]))
def test_path_shaped_arguments_read_as_aiosmtpd_reads_them(
    local: str, labels: list[str], tail: str, limit: int
) -> None:
    agrees(f"<{local}@{'.'.join(labels)}>{tail}", limit)


def test_what_clients_send_takes_the_fast_reading() -> None:
    for arg, expected in [
        ("<alice@example.com>", ("alice@example.com", "")),
        (
            "<bob.smith+tag@mail.example.co.uk> SIZE=1234 BODY=8BITMIME",
            ("bob.smith+tag@mail.example.co.uk", "SIZE=1234 BODY=8BITMIME"),
        ),
        ("<o'neil@x-y.example>\tSIZE=1", ("o'neil@x-y.example", "SIZE=1")),
    ]:
        assert plain_path(arg, 64) == expected == aiosmtpd_reading(arg, 64)


def test_other_paths_are_left_to_aiosmtpd() -> None:
    for arg in [
        '<"quoted name"@example.com>',
        "<>",
        "<a@[127.0.0.1]>",
        "<a@b> (comment)",
        "<ü@example.com>",
        "alice@example.com",
        "<a..b@example.com>",
        "<=?utf-8?q?abc?=@example.com>",  # aiosmtpd decodes it: abc@example.com
    ]:
        assert plain_path(arg, 64) is None, arg
    assert plain_path("<toolong@example.com>", 4) is None  # aiosmtpd refuses it: None, None
