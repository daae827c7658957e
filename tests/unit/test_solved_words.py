"""`says_solved` skips its regex for ASCII text that holds none of the phrases' parts: the same
answer as the regex alone, on generated follow-ups (mixed case, quoted lines, non-ASCII
look-alikes that re.I matches and `lower` does not)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from use_cases.flows import SOLVED_WORDS, says_solved
from use_cases.models import NewMessage

WORDS = st.sampled_from(
    [
        "solved",
        "Resolved",
        "unsolved",
        "FIXED",
        "fixedly",
        "works now",
        "Works  now",
        "working now",
        "that worked",
        "ALL GOOD",
        "all\tgood",
        "close the ticket",
        "Close This Thread",
        "close the door",
        "\u017folved",
        "f\u0131xed",
        "thank",
        "you",
        "it",
        "is",
        "still",
        "broken",
        ">",
        "> solved",
        "\n",
        " ",
        ".",
        "!",
        "é",
        "order-42",
        "now",
    ]
)


def follow_up(text: str) -> NewMessage:
    return NewMessage(
        mailbox="support@x",
        message_id="<2@e>",
        from_addr="alice@example.com",
        to=("support@x",),
        subject="Re: login",
        received_at=datetime(2026, 12, 6, tzinfo=UTC),
        text=text,
    )


def by_regex_alone(text: str) -> bool:
    fresh = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(">"))
    return bool(SOLVED_WORDS.search(fresh))


@settings(max_examples=2000, deadline=None)
@given(st.lists(WORDS, max_size=12).map("".join) | st.lists(WORDS, max_size=12).map(" ".join))
def test_the_shortcut_answers_as_the_regex_does(text: str) -> None:
    assert says_solved(follow_up(text)) is by_regex_alone(text)


def test_phrases_in_any_case_count_and_quoted_ones_do_not() -> None:
    assert says_solved(follow_up("Thanks, that WORKED.\n\n> still broken"))
    assert says_solved(follow_up("it is \u017folved"))  # re.I's long s (U+017F): the regex decides
    assert not says_solved(follow_up("Still broken.\n> Solved? reply 'solved'"))
    assert not says_solved(follow_up("The unsolved problem remains"))
