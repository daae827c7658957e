"""The thread index's contract, on SQLite and PostgreSQL: a message placed by one node is
found by another, per mailbox; subjects find recent threads, newest first; a thread's
participants gather from every node's mail; a reference two threads share is seen twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.contract.conftest import Stores
from use_cases.models import ThreadEntry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def nodes(stores: Stores) -> AsyncIterator[list[Any]]:
    indexes = [stores("thread_index") for _ in range(3)]
    yield indexes
    for index in indexes:
        await index.close()


def entry(workflow_id: str, *ids: str, at: datetime = NOW, **more: Any) -> ThreadEntry:
    return ThreadEntry(workflow_id=workflow_id, message_ids=ids, at=at, **more)


async def test_a_message_placed_by_one_node_is_found_by_another(nodes: list[Any]) -> None:
    one, other, _ = nodes
    await one.record("sales", "t1", entry("t1", "<a@x>", "mentioned:<b@x>"))
    await one.record("sales", "t1", entry("t1", "<a@x>"))  # again: harmless
    assert await other.threads_of(["<a@x>", "mentioned:<b@x>", "<c@x>"], "sales") == {
        "<a@x>": "t1",
        "mentioned:<b@x>": "t1",
    }
    assert await other.threads_of(["<a@x>"], "support") == {}
    assert await other.threads_of([], "sales") == {}


async def test_the_first_thread_to_claim_a_message_keeps_it(nodes: list[Any]) -> None:
    await asyncio.gather(
        nodes[0].record("sales", "t1", entry("t1", "<a@x>")),
        nodes[1].record("sales", "t2", entry("t2", "<a@x>")),
    )
    found = [await n.threads_of(["<a@x>"], "sales") for n in nodes]
    assert found[0] == found[1] == found[2] and found[0]["<a@x>"] in {"t1", "t2"}


async def test_subjects_find_recent_threads_newest_first(nodes: list[Any]) -> None:
    one, other, _ = nodes
    for workflow_id, age in (("old", 10), ("new", 1), ("mid", 3)):
        at = NOW - timedelta(days=age)
        await one.record("sales", workflow_id, entry(workflow_id, subject_key="laptops", at=at))
    found = await other.by_subject("sales", "laptops", NOW - timedelta(days=5))
    assert [e.workflow_id for e in found] == ["new", "mid"]
    assert found[0].at == NOW - timedelta(days=1) and found[0].subject_key == "laptops"
    assert await other.by_subject("support", "laptops", NOW - timedelta(days=30)) == []


async def test_participants_gather_from_every_nodes_mail(nodes: list[Any]) -> None:
    people = [f"p{i}@example.com" for i in range(9)]
    await asyncio.gather(
        *(
            nodes[i % 3].record("sales", "t1", entry("t1", subject_key="s", participants=(p,)))
            for i, p in enumerate(people)
        )
    )
    (found,) = await nodes[2].by_subject("sales", "s", NOW - timedelta(days=1))
    assert sorted(found.participants) == people


async def test_the_first_subject_of_a_thread_stays(nodes: list[Any]) -> None:
    await nodes[0].record("sales", "t1", entry("t1", subject_key="laptops"))
    await nodes[1].record("sales", "t1", entry("t1", subject_key="other"))
    assert [e.workflow_id for e in await nodes[2].by_subject("sales", "laptops", NOW)] == ["t1"]


async def test_a_reference_shared_by_two_threads_is_seen_twice(nodes: list[Any]) -> None:
    await nodes[0].record("sales", "t1", entry("t1", reference="T-1"))
    assert await nodes[1].threads_with_reference("sales", "T-1") == ["t1"]
    await nodes[1].record("sales", "t2", entry("t2", reference="T-1"))
    assert sorted(await nodes[2].threads_with_reference("sales", "T-1")) == ["t1", "t2"]
    assert await nodes[2].threads_with_reference("support", "T-1") == []


async def test_a_message_id_with_a_nul_byte_is_recorded_and_found(nodes: list[Any]) -> None:
    odd = "<a\x00b@x>"
    await nodes[0].record("sales", "t1", entry("t1", odd, subject_key="s\x00", participants=(odd,)))
    assert list((await nodes[1].threads_of([odd], "sales")).values()) == ["t1"]
    assert [e.workflow_id for e in await nodes[1].by_subject("sales", "s\x00", NOW)] == ["t1"]
