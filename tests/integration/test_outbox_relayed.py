"""With a relay (MAILROOM_OUTBOUND_SMTP) nothing is written to the built-in outbox, yet
`mailroom outbox` lists what went out: the relay's sent log keeps what each mail was."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.faults.deployment import RelaySink
from tests.faults.mta import raw_mail
from tests.integration.test_cli import cli_env
from tests.stack import Stack, running_stack, stack_settings
from tests.support import run_mailroom, wait_for

SUPPORT = "support@mailroom.local"
CUSTOMER = "customer@example.com"


@pytest.fixture
def relay() -> Iterator[RelaySink]:
    with RelaySink() as sink:
        yield sink


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str, relay: RelaySink
) -> AsyncIterator[Stack]:
    settings = stack_settings(
        tmp_path, dev_server.client, task_queue, outbound_smtp=f"127.0.0.1:{relay.port}"
    )
    async with running_stack(dev_server.client, settings) as running:
        yield running


async def test_the_outbox_lists_the_acknowledgement_handed_to_the_relay(
    stack: Stack, relay: RelaySink, unique: str
) -> None:
    question = raw_mail(
        sender=CUSTOMER,
        to=SUPPORT,
        subject="Printer on fire",
        message_id=f"<question-{unique}@example.com>",
        body="My printer is on fire.\r\n",
    )
    await stack.send(question, [SUPPORT], sender=CUSTOMER)
    ack = await wait_for(lambda: _relayed_ack(relay), what="the acknowledgement at the relay")
    env = {**cli_env(stack), "MAILROOM_OUTBOUND_SMTP": f"127.0.0.1:{relay.port}"}

    code, out, err = await run_mailroom("outbox", "--json", env=env)

    assert code == 0, err
    listed = {e["message_id"]: e for e in json.loads(out)}
    assert listed[ack]["to"] == [CUSTOMER] and listed[ack]["via"] == "relay"
    assert "Printer on fire" in listed[ack]["subject"]
    assert listed[ack]["in_reply_to"] == f"<question-{unique}@example.com>"
    code, out, err = await run_mailroom("outbox", env=env)
    assert code == 0 and "Printer on fire" in out
    assert err.strip() == f"{len(listed)} mail{'s' * (len(listed) != 1)} relayed"
    assert not stack.wiring.outbox.entries()


async def _relayed_ack(relay: RelaySink) -> str | None:
    return next((m for m in list(relay.received) if m.startswith("<ack-")), None)
