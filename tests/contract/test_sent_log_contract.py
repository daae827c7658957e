"""The relay's sent log, on SQLite and PostgreSQL: a Message-ID recorded by one node is
known to every node, and recording it again is harmless; what each mail was is listed
(`mailroom outbox`), by every node sharing the log, in the order it was sent."""

from __future__ import annotations

import asyncio

from tests.contract.conftest import Stores
from tests.outbox_entries import SENT_AT, sent_entry


def test_a_message_sent_by_one_node_is_known_to_another(stores: Stores) -> None:
    one, other = stores("sent_log"), stores("sent_log")
    assert not other.was_sent("<a@example.com>")
    one.record(sent_entry("<a@example.com>"))
    assert other.was_sent("<a@example.com>")
    assert not other.was_sent("<b@example.com>")


async def test_recording_one_message_at_once_from_many_nodes_is_harmless(stores: Stores) -> None:
    nodes = [stores("sent_log") for _ in range(6)]
    mail = sent_entry("<a@example.com>")
    await asyncio.gather(*(asyncio.to_thread(n.record, mail) for n in nodes))
    assert all(n.was_sent("<a@example.com>") for n in nodes)
    assert [e.message_id for e in nodes[0].entries()] == ["<a@example.com>"]


def test_a_message_id_with_a_nul_byte_is_recorded(stores: Stores) -> None:
    stores("sent_log").record(sent_entry("<a\x00b@example.com>"))
    assert stores("sent_log").was_sent("<a\x00b@example.com>")


def test_each_node_lists_the_mail_every_node_sent_oldest_first(stores: Stores) -> None:
    one, other = stores("sent_log"), stores("sent_log")
    later, earlier = sent_entry("<b@example.com>", minutes=5), sent_entry("<a@example.com>")
    one.record(later)
    other.record(earlier)
    assert one.entries() == other.entries() == [earlier, later]


def test_a_mail_recorded_again_is_listed_once_as_first_recorded(stores: Stores) -> None:
    log = stores("sent_log")
    first = sent_entry("<a@example.com>")
    log.record(first)
    log.record(sent_entry("<a@example.com>", minutes=1, subject="Retried"))
    assert log.entries() == [first]


def test_an_empty_sent_log_lists_nothing(stores: Stores) -> None:
    assert stores("sent_log").entries() == []


def test_the_listing_keeps_the_time_sent_to_the_microsecond(stores: Stores) -> None:
    log = stores("sent_log")
    exact = sent_entry("<a@example.com>").model_copy(
        update={"sent_at": SENT_AT.replace(microsecond=123456)}
    )
    log.record(exact)
    assert log.entries()[0].sent_at == exact.sent_at
