"""The relay's sent log, on SQLite and PostgreSQL: a Message-ID recorded by one node is
known to every node, and recording it again is harmless."""

from __future__ import annotations

import asyncio

from tests.contract.conftest import Stores


def test_a_message_sent_by_one_node_is_known_to_another(stores: Stores) -> None:
    one, other = stores("sent_log"), stores("sent_log")
    assert not other.was_sent("<a@example.com>")
    one.record("<a@example.com>")
    assert other.was_sent("<a@example.com>")
    assert not other.was_sent("<b@example.com>")


async def test_recording_one_message_at_once_from_many_nodes_is_harmless(stores: Stores) -> None:
    nodes = [stores("sent_log") for _ in range(6)]
    await asyncio.gather(*(asyncio.to_thread(n.record, "<a@example.com>") for n in nodes))
    assert all(n.was_sent("<a@example.com>") for n in nodes)


def test_a_message_id_with_a_nul_byte_is_recorded(stores: Stores) -> None:
    stores("sent_log").record("<a\x00b@example.com>")
    assert stores("sent_log").was_sent("<a\x00b@example.com>")
