"""Plain text we send is format=flowed (RFC 3676): short lines for every reader, paragraphs
that a flowed reader joins back and re-wraps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.outbound.flowed import MAX_LINE, WIDTH, decode, encode, reflowed

KB_ANSWER = (
    'To reset your password, open the sign-in page, choose "Forgot password" and follow\n'
    "the link we email you. The link is valid for one hour.\n"
)
LONG_PARAGRAPH = " ".join(["Unplug the printer at once and keep away from it."] * 6)
URL = "https://support.example.com/articles/" + "printer-fire-" * 8 + "what-to-do?ref=mail"


def lines_of(flowed: str) -> list[str]:
    return flowed.removesuffix("\n").split("\n")


def test_a_long_paragraph_is_wrapped_at_72_with_a_space_before_each_soft_break() -> None:
    flowed = encode(LONG_PARAGRAPH)
    lines = lines_of(flowed)
    assert len(lines) > 3
    assert all(len(line) <= WIDTH for line in lines)
    assert all(line.endswith(" ") for line in lines[:-1]), "soft breaks"
    assert not lines[-1].endswith(" "), "the paragraph ends in a hard break"
    assert decode(flowed) == LONG_PARAGRAPH + "\n"


def test_the_exact_lines_of_a_wrapped_paragraph() -> None:
    text = "word " * 20 + "end"
    assert encode(text) == "word " * 14 + "\n" + "word " * 6 + "end\n"


def test_a_hard_break_in_the_middle_of_a_sentence_is_joined() -> None:
    flowed = encode(KB_ANSWER)
    assert decode(flowed) == (
        'To reset your password, open the sign-in page, choose "Forgot password" and follow '
        "the link we email you. The link is valid for one hour.\n"
    )
    assert all(len(line) <= WIDTH for line in lines_of(flowed))


def test_lists_tables_greetings_and_new_sentences_keep_their_line_breaks() -> None:
    text = (
        "Hello Alice,\n"
        "Your purchase order PO-1 was created:\n"
        "  20 x laptop\n"
        "  2 x dock\n"
        "- first point\n"
        "- second point\n"
        "1. open it\n"
        "item\tprice\n"
        "laptop   900\n"
        "We checked it.\n"
        "Reply to this mail.\n"
        "open\n"
        "Settings now\n"
    )
    assert reflowed(text) == text.removesuffix("\n").split("\n")
    assert decode(encode(text)) == text


def test_commands_credentials_addresses_and_greetings_keep_their_line_breaks() -> None:
    for text in (
        "To reset, run:\nsudo systemctl stop cups\nsudo rm -rf /var/spool/cups/tmp\n"
        "sudo systemctl start cups",
        "Your login:\nuser: alice\npassword: see the portal",
        "Ship to\njohn smith\n12 main st\nspringfield",
        "Hi bob,\nthanks for writing",
        "Order status\nshipped\ntracking number 123",
    ):
        assert reflowed(text) == text.split("\n")
        assert decode(encode(text)) == text + "\n"


def test_a_field_line_after_a_long_line_is_not_joined() -> None:
    text = "Here are the details of the account we opened for you on the portal\nuser: alice"
    assert reflowed(text) == text.split("\n")


def test_lines_inside_a_code_fence_are_never_joined() -> None:
    long_command = "sudo lpadmin -p office-printer -E -v ipp://printer.example/ipp/print -m"
    text = f"Run this, please\n```\n{long_command}\neverywhere\n```\nand tell us how it went"
    assert len(long_command) >= 60
    assert reflowed(text) == text.split("\n")
    assert decode(encode(text)) == text + "\n"


def test_only_a_long_line_that_stops_mid_sentence_takes_the_next_one() -> None:
    long_line = "We looked at the printer you sent us and we think the fuser is"
    assert reflowed(f"{long_line}\nbroken.") == [f"{long_line} broken."]
    assert reflowed(f"{long_line[:40]}\nbroken.") == [long_line[:40], "broken."]
    assert reflowed(f"{long_line}.\nbroken.") == [f"{long_line}.", "broken."]


def test_quoted_lines_keep_their_depth_and_are_never_joined() -> None:
    text = "Alice wrote:\n> it burns\n> and\n>> smokes\n>also this\nnow what\n"
    flowed = encode(text)
    assert lines_of(flowed) == [
        "Alice wrote:",
        "> it burns",
        "> and",
        ">> smokes",
        "> also this",
        "now what",
    ]


def test_a_quoted_line_over_78_characters_is_wrapped_with_its_quote_marks() -> None:
    text = "> " + LONG_PARAGRAPH + "\n"
    lines = lines_of(encode(text))
    assert len(lines) > 1 and all(line.startswith("> ") for line in lines)
    assert all(len(line) <= MAX_LINE for line in lines)
    assert decode(encode(text)) == text


def test_the_signature_separator_is_kept_and_the_signature_is_not_joined() -> None:
    text = "Thanks.\n\n-- \nmailroom, support@mailroom.local\nsee you\n"
    flowed = encode(text)
    assert lines_of(flowed) == [
        "Thanks.",
        "",
        "-- ",
        "mailroom, support@mailroom.local",
        "see you",
    ]
    assert decode(flowed) == text


def test_wrapping_never_makes_a_line_a_reader_takes_for_the_signature_separator() -> None:
    text = f"-- {URL}\n"
    flowed = encode(text)
    assert "-- " not in lines_of(flowed)
    assert decode(flowed) == text


def test_lines_starting_with_a_space_from_or_a_quote_mark_are_space_stuffed() -> None:
    long_from = "Then " + "word " * 13 + "From here on " + "more " * 5
    flowed = encode(f" indented\nFrom the start\n{long_from.strip()}\n")
    lines = lines_of(flowed)
    assert lines[:2] == ["  indented", " From the start"]
    assert lines[3].startswith(" From here on"), "a wrapped line is stuffed too"
    assert decode(flowed) == f" indented\nFrom the start\n{long_from.strip()}\n"


def test_trailing_spaces_of_a_hard_line_are_dropped_so_it_stays_hard() -> None:
    flowed = encode("first line   \nSecond line\n")
    assert lines_of(flowed) == ["first line", "Second line"]


def test_a_url_longer_than_a_line_is_never_broken() -> None:
    text = f"Read {URL} before you call us.\n"
    lines = lines_of(encode(text))
    assert f"{URL} " in lines
    assert all(len(line) <= MAX_LINE for line in lines if URL not in line)
    assert decode(encode(text)) == text


def test_a_reader_joins_soft_breaks_only_within_one_quote_depth() -> None:
    flowed = "> quoted and \nnot quoted \n>> deeper \n>> still\n"
    assert decode(flowed) == "> quoted and \nnot quoted \n>> deeper still\n"


WORDS = st.sampled_from(
    ["a", "word", "From", ">", ">>", "--", "-", "1.", URL, "Hello,", "end.", "ok", "", " "]
)
LINES = st.lists(WORDS, max_size=30).map(" ".join)


@given(st.lists(LINES, max_size=8))
def test_any_text_reads_back_as_its_reflowed_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    expected = [_canonical(line) for line in reflowed(text)]
    flowed = encode(text)
    assert decode(flowed) == "\n".join(expected) + "\n"
    for line in lines_of(flowed):
        assert len(line) <= MAX_LINE or URL in line, line
        assert not line.startswith("From "), "stuffed"


def _canonical(line: str) -> str:
    """How a reader shows a quoted line: its marks, one space, the text."""
    depth = len(line) - len(line.lstrip(">"))
    return f"{'>' * depth} {line[depth:].removeprefix(' ')}".rstrip() if depth else line
