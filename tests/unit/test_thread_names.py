"""Naming a thread on the command line: whole id, unique prefix, hash part, ticket reference."""

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


class ListedThreads:
    """The gateway's listing, counted: a whole id must not need it."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.listings = 0

    async def thread_ids(self) -> list[str]:
        self.listings += 1
        return self.ids


def test_a_unique_prefix_of_the_id_names_its_thread() -> None:
    assert matching_threads("thread-proc", THREADS) == [PROCUREMENT]
    assert matching_threads(PROCUREMENT[:-4].upper(), THREADS) == [PROCUREMENT]


def test_a_prefix_of_the_hash_part_names_its_thread() -> None:
    hash_part = SUPPORT.rpartition("-")[2]
    assert matching_threads(hash_part[:8], THREADS) == [SUPPORT]
    assert matching_threads(hash_part.upper(), THREADS) == [SUPPORT]


@pytest.mark.parametrize("written", ["{ref}", "#{ref}", "[#{ref}]", "[#{low}]", " #{low} "])
def test_the_ticket_reference_names_its_thread_however_it_is_written(written: str) -> None:
    reference = ticket_reference(OTHER_SUPPORT)
    text = written.format(ref=reference, low=reference.lower())
    assert matching_threads(text, THREADS) == [OTHER_SUPPORT]


def test_a_prefix_shared_by_several_threads_names_them_all() -> None:
    assert matching_threads("thread-support@", THREADS) == [SUPPORT, OTHER_SUPPORT]


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
        await resolve_thread(ListedThreads(THREADS), "thread-support")
    message = str(refused.value)
    assert "matches 2 threads" in message
    assert SUPPORT in message and OTHER_SUPPORT in message
    assert f"[#{ticket_reference(SUPPORT)}]" in message
    assert PROCUREMENT not in message


async def test_at_most_ten_candidates_are_listed() -> None:
    many = [workflow_id_for("support@mailroom.local", f"<m{n}@example.com>") for n in range(14)]
    with pytest.raises(CliError) as refused:
        await resolve_thread(ListedThreads(many), "thread-")
    message = str(refused.value)
    assert "matches 14 threads" in message and "and 4 more" in message
    assert sum(thread_id in message for thread_id in many) == 10
