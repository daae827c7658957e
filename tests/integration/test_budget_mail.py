"""A monthly budget per cost centre over real SMTP and the dev server: two purchase requests
mailed at once on one cost centre, which together exceed its budget, make one purchase order
(`mailroom pos` lists one) and one denial that says why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.integration.test_cli import cli_env, threads_json
from tests.stack import Stack, running_stack, sent_text, stack_settings
from tests.support import run_mailroom, wait_for

PROCUREMENT = "procurement@mailroom.local"
REQUESTERS = ("bob@corp.example", "carol@corp.example")


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path / "data", dev_server.client, task_queue, budget_per_cost_centre=1_000.0
    )
    async with running_stack(dev_server.client, settings) as running:
        yield running


def purchase(requester: str, unique: str) -> bytes:
    return (
        f"From: {requester}\r\nTo: {PROCUREMENT}\r\nSubject: Office chairs\r\n"
        f"Message-ID: <chairs-{unique}-{requester}>\r\n"
        "Date: Fri, 4 Dec 2026 09:15:00 +0100\r\n\r\n"
        "Please order 2 office chairs, budget EUR 600, cost centre 4711.\r\n"
    ).encode()


async def test_two_mails_at_once_on_one_budget_make_one_order_and_one_denial(
    stack: Stack, unique: str
) -> None:
    env = cli_env(stack)
    await asyncio.gather(
        *(stack.send(purchase(r, unique), [PROCUREMENT], sender=r) for r in REQUESTERS)
    )

    async def both_ended() -> list[dict[str, object]] | None:
        threads = await threads_json(env)
        ended = [t for t in threads if t["stage"] in ("confirmed", "denied")]
        return threads if len(threads) == 2 and len(ended) == 2 else None

    threads = await wait_for(both_ended, timeout=60, what="both requests decided")
    assert sorted(str(t["stage"]) for t in threads) == ["confirmed", "denied"]

    code, out, err = await run_mailroom("pos", "--json", env=env)
    assert code == 0, err
    (order,) = json.loads(out)
    assert order["total"] == 600
    denials = [e for e in stack.wiring.outbox.entries() if "-denied-" in e.message_id]
    assert len(denials) == 1 and denials[0].to[0] in REQUESTERS
    assert order["requester"] not in denials[0].to
    text = " ".join(sent_text(stack, denials[0].message_id).split())
    assert "would take cost centre 4711 over its monthly budget" in text
    assert "EUR 600.00 already ordered this month, budget EUR 1,000.00" in text

    async def nothing_held() -> bool:
        code, out, _ = await run_mailroom("coordinator", "--json", env=env)
        shown = json.loads(out) if code == 0 else None
        return shown is not None and shown["total_items"] == 0

    # both let the budget's lane go and left the coordinator: no lane is leaked
    assert await wait_for(nothing_held, what="the coordinator without items")
