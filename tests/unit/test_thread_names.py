"""Naming a thread on the command line: whole id, unique prefix reaching 4 characters into
the hash part, 4+ characters of the hash part, ticket reference; nothing shorter."""

from __future__ import annotations

import pytest

from orchestrator.cli_errors import CliError
from orchestrator.thread_ids import matching_threads, resolve_thread
from use_cases.threading import workflow_id_for
from use_cases.tickets import ticket_reference

SUPPORT = workflow_id_for("support@mailroom.local", "<question-1@example.com>")
PROCUREMENT = workflow_id_for("procurement@mailroom.local", "<rfq-1@example.com>")
OTHER_SUPPORT = workflow_id_for("support@mailroom.local", "<lunch@example.com>")
THREADS = [SUPPORT, PROCUREMENT, OTHER_SUPPORT]
# Two threads whose hash parts share their first four characters.
SHARED_A = "thread-support@mailroom.local-3fe1c85a00000000"
SHARED_B = "thread-sales@mailroom.local-3fe17a0000000000"


class ListedThreads:
    """The gateway's listing, counted: a whole id must not need it."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.listings = 0

    async def thread_ids(self) -> list[str]:
        self.listings += 1
        return self.ids


def test_a_prefix_of_the_id_names_its_thread_when_it_reaches_into_the_hash_part() -> None:
    hash_starts = len(PROCUREMENT) - 16
    assert matching_threads(PROCUREMENT[: hash_starts + 4], THREADS) == [PROCUREMENT]
    assert matching_threads(PROCUREMENT[:-4].upper(), THREADS) == [PROCUREMENT]


def test_a_prefix_that_stops_short_of_four_hash_characters_names_nothing() -> None:
    hash_starts = len(PROCUREMENT) - 16
    for name in ("t", "thread", "thread-proc", PROCUREMENT[: hash_starts + 3]):
        assert matching_threads(name, THREADS) == [], name


def test_a_prefix_of_the_hash_part_names_its_thread() -> None:
    hash_part = SUPPORT.rpartition("-")[2]
    assert matching_threads(hash_part[:8], THREADS) == [SUPPORT]
    assert matching_threads(hash_part[:4], THREADS) == [SUPPORT]
    assert matching_threads(hash_part.upper(), THREADS) == [SUPPORT]


@pytest.mark.parametrize("short", ["3", "7", "3f", "3fe", "#3", "[#3fe]", "#3fe1", "[#3fe1c8]"])
def test_a_short_or_hash_tagged_name_names_no_thread(short: str) -> None:
    """`mailroom approve 3` must not act on whichever thread's hash starts with 3; "#" and
    "[#…]" mark a ticket reference, never a hash prefix."""
    assert matching_threads(short, [SHARED_A, "thread-x@mailroom.local-7a00000000000000"]) == []


@pytest.mark.parametrize("written", ["{ref}", "#{ref}", "[#{ref}]", "[#{low}]", " #{low} "])
def test_the_ticket_reference_names_its_thread_however_it_is_written(written: str) -> None:
    reference = ticket_reference(OTHER_SUPPORT)
    text = written.format(ref=reference, low=reference.lower())
    assert matching_threads(text, THREADS) == [OTHER_SUPPORT]


def test_a_prefix_shared_by_several_threads_names_them_all() -> None:
    assert matching_threads("3fe1", [SHARED_A, SUPPORT, SHARED_B]) == [SHARED_A, SHARED_B]
    assert matching_threads("3fe1c", [SHARED_A, SUPPORT, SHARED_B]) == [SHARED_A]


def test_a_written_reference_must_be_the_whole_reference() -> None:
    reference = ticket_reference(SUPPORT)
    assert matching_threads(f"#{reference[:5]}", THREADS) == []
    assert matching_threads(f"[#{reference}]x", THREADS) == []


def test_text_that_names_no_thread_matches_none() -> None:
    assert matching_threads("nope", THREADS) == []
    assert matching_threads("#", THREADS) == []
    assert matching_threads("[#]", THREADS) == []


async def test_a_whole_id_is_used_without_listing_threads() -> None:
    listing = ListedThreads([])
    assert await resolve_thread(listing, f" {SUPPORT} ") == SUPPORT
    assert listing.listings == 0


async def test_resolving_a_reference_gives_the_whole_id() -> None:
    reference = ticket_reference(PROCUREMENT)
    assert await resolve_thread(ListedThreads(THREADS), f"[#{reference}]") == PROCUREMENT


async def test_a_name_that_matches_no_thread_is_refused() -> None:
    with pytest.raises(CliError, match="no thread matches 'zzz'"):
        await resolve_thread(ListedThreads(THREADS), "zzz")


async def test_an_ambiguous_name_is_refused_with_its_candidates() -> None:
    with pytest.raises(CliError) as refused:
        await resolve_thread(ListedThreads([SHARED_A, SUPPORT, SHARED_B]), "3fe1")
    message = str(refused.value)
    assert "matches 2 threads" in message
    assert SHARED_A in message and SHARED_B in message
    assert f"[#{ticket_reference(SHARED_A)}]" in message
    assert SUPPORT not in message


async def test_at_most_ten_candidates_are_listed() -> None:
    many = [f"thread-support@mailroom.local-abcd{n:012x}" for n in range(14)]
    with pytest.raises(CliError) as refused:
        await resolve_thread(ListedThreads(many), "abcd")
    message = str(refused.value)
    assert "matches 14 threads" in message and "and 4 more" in message
    assert sum(thread_id in message for thread_id in many) == 10


@pytest.mark.parametrize("name", ["7ff", "3fe", "a"])
async def test_a_few_hash_characters_are_refused_as_too_short(name: str) -> None:
    with pytest.raises(CliError) as refused:
        await resolve_thread(ListedThreads(THREADS), name)
    message = str(refused.value)
    assert f"{name!r} is too short to name a thread" in message
    assert "at least 4 characters of the hash part" in message and "reference" in message


async def test_a_mailbox_prefix_is_refused_as_too_short_with_the_threads_it_starts() -> None:
    with pytest.raises(CliError) as refused:
        await resolve_thread(ListedThreads([SHARED_A, SUPPORT, SHARED_B]), "thread-support")
    message = str(refused.value)
    assert "'thread-support' is too short to name a thread" in message
    assert "it starts 2 threads" in message and SHARED_A in message and SUPPORT in message
    assert SHARED_B not in message


async def test_a_too_short_name_lists_at_most_ten_threads() -> None:
    many = [f"thread-support@mailroom.local-abcd{n:012x}" for n in range(14)]
    with pytest.raises(CliError) as refused:
        await resolve_thread(ListedThreads(many), "thread-support@")
    message = str(refused.value)
    assert "too short" in message and "and 4 more" in message
    assert sum(thread_id in message for thread_id in many) == 10


async def test_a_too_short_name_that_starts_one_thread_says_so_in_the_singular() -> None:
    with pytest.raises(CliError, match="it starts 1 thread: thread-sales"):
        await resolve_thread(ListedThreads([SHARED_B, SUPPORT]), "thread-sales")
