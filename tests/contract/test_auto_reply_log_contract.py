"""The automatic-mail log's contract, on SQLite and PostgreSQL: the caps per person, per
domain and in all hold whichever node sends, concurrent sends cannot pass a cap together, a
retried send is the same mail, and what is older than a day is forgotten."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.contract.conftest import Stores
from use_cases.reply_cap import AutomaticMailCaps

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def caps(per_address: int, per_domain: int = 200, total: int = 10_000) -> AutomaticMailCaps:
    return AutomaticMailCaps(per_address=per_address, per_domain=per_domain, total=total)


@pytest.fixture
async def nodes(stores: Stores) -> AsyncIterator[list[Any]]:
    logs = [stores("auto_reply_log") for _ in range(3)]
    yield logs
    for log in logs:
        await log.close()


async def test_concurrent_sends_on_several_nodes_cannot_pass_the_cap(nodes: list[Any]) -> None:
    reasons = await asyncio.gather(
        *(nodes[n % 3].reserve(f"<{n}@x>", ["robot@example.com"], NOW, caps(3)) for n in range(12))
    )
    assert reasons.count(None) == 3
    assert await nodes[0].sent_since("Robot@example.com", NOW - timedelta(hours=1)) == 3


async def test_a_retried_send_on_another_node_is_the_same_mail(nodes: list[Any]) -> None:
    assert await nodes[0].reserve("<0@x>", ["robot@example.com"], NOW, caps(1)) is None
    assert await nodes[1].reserve("<0@x>", ["robot@example.com"], NOW, caps(1)) is None
    assert await nodes[2].reserve("<1@x>", ["robot@example.com"], NOW, caps(1)) is not None


async def test_a_rotating_address_is_capped_per_person_then_per_domain(nodes: list[Any]) -> None:
    limits = caps(2, per_domain=5)
    tagged = [
        await nodes[n % 3].reserve(f"<t{n}@x>", [f"victim+{n}@example.com"], NOW, limits)
        for n in range(4)
    ]
    assert [r is None for r in tagged] == [True, True, False, False], "one person"
    rotated = [
        await nodes[n % 3].reserve(f"<r{n}@x>", [f"r{n}@example.com"], NOW, limits)
        for n in range(5)
    ]
    assert [r is None for r in rotated] == [True, True, True, False, False], "one domain"
    assert rotated[3] is not None and "domain example.com" in rotated[3]


async def test_the_total_cap_holds_across_domains(nodes: list[Any]) -> None:
    limits = caps(9, per_domain=9, total=3)
    reasons = [
        await nodes[n % 3].reserve(f"<{n}@x>", [f"a@d{n}.example"], NOW, limits) for n in range(5)
    ]
    assert reasons[:3] == [None] * 3 and all(r and "in all" in r for r in reasons[3:])


async def test_a_verified_correspondent_is_capped_per_person_only(nodes: list[Any]) -> None:
    limits = caps(2, per_domain=1)
    assert await nodes[0].reserve("<0@x>", ["r0@example.com"], NOW, limits) is None
    assert await nodes[1].reserve("<1@x>", ["r1@example.com"], NOW, limits) is not None
    verified = [
        await nodes[n % 3].reserve(
            f"<v{n}@x>", ["alice@example.com"], NOW, limits, per_person_only=True
        )
        for n in range(3)
    ]
    assert [r is None for r in verified] == [True, True, False], "still 2 per person"


async def test_automatic_mail_older_than_a_day_is_forgotten(nodes: list[Any]) -> None:
    old = NOW - timedelta(days=2)
    await nodes[0].reserve("<old@x>", ["robot@example.com"], old, caps(5))
    await nodes[1].reserve("<new@x>", ["robot@example.com"], NOW, caps(5))
    assert await nodes[2].sent_since("robot@example.com", NOW - timedelta(days=3)) == 1
