"""No automatic mail reaches a forged third party, over real SMTP: mailroom answers the
envelope sender, never a `From:` at another domain, never a null or no-reply sender, and a
flood naming ever new sub-addresses of one person runs into one cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.mail import OutboxEntry
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
VICTIM = "victim@thirdparty.example"


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, dev_server.client, task_queue, auto_replies_per_hour=3)
    async with running_stack(dev_server.client, settings) as running:
        yield running


def question(sender: str, message_id: str) -> bytes:
    return raw_mail(
        sender=sender,
        to=SUPPORT,
        subject="Buy cheap watches at evil.example",
        message_id=message_id,
        body="My printer is on fire, please help.\r\n",
    )


async def test_a_forged_from_is_never_answered(stack: Stack, unique: str) -> None:
    forged = f"<forged-{unique}@evil.example>"
    await stack.send(question(VICTIM, forged), [SUPPORT], sender="mallory@evil.example")
    null = f"<null-{unique}@evil.example>"
    await stack.send(question(VICTIM, null), [SUPPORT], sender="")
    own = f"<own-{unique}@example.com>"
    await stack.send(question("carol@example.com", own), [SUPPORT], sender="carol@example.com")

    await wait_for(lambda: _resting(stack, [forged, null, own]), what="every thread at rest")
    assert {a for e in _about(stack, own) for a in e.to} == {"carol@example.com"}
    assert {a for e in _about(stack, forged) for a in e.to} == {"mallory@evil.example"}
    assert _about(stack, null) == [], "a null sender gets nothing"
    assert not [e for e in stack.wiring.outbox.entries() if VICTIM in e.to]


async def test_sub_addresses_of_one_person_share_one_cap(stack: Stack, unique: str) -> None:
    roots = [f"<tag-{n}-{unique}@thirdparty.example>" for n in range(6)]
    for n, root in enumerate(roots):
        sender = f"victim+{n}@thirdparty.example"
        await stack.send(question(sender, root), [SUPPORT], sender=sender)
    await wait_for(lambda: _resting(stack, roots), what="every thread at rest")
    reached = [e for e in stack.wiring.outbox.entries() if "thirdparty.example" in e.to[0]]
    assert len(reached) == 3, [(e.to, e.message_id) for e in reached]


def _about(stack: Stack, message_id: str) -> list[OutboxEntry]:
    return [
        e for e in stack.wiring.outbox.entries() if message_id in (e.in_reply_to, *e.references)
    ]


async def _resting(stack: Stack, roots: list[str]) -> bool:
    """Every thread past its flow's answer (mail is sent before the stage it leads to), or
    holding automatic mail only (never answered, no flow)."""
    for root in roots:
        state = await stack.gateway.get(workflow_id_for(SUPPORT, root))
        automatic = state.messages and all(m.automatic for m in state.messages)
        if not automatic and state.stage not in {"waiting_for_customer", "escalated"}:
            return False
    return True
