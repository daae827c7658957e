"""Whoever reaches Temporal's gRPC port (unauthenticated on the embedded server) but has no
key cannot make a sealed thread act (issue 22): a signal written in clear, as `temporal
workflow signal` or the Web UI writes one, is not taken; the thread goes on with what
mailroom sealed. Before, the codec passed plain payloads through, and a plain HUMAN_REPLY
mailed the customer whatever the caller wrote, from our mailbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.encryption import TEST_CONVERTER
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import HumanReply
from workflows.messages import HUMAN_REPLY

MAILBOX = "support@mailroom.local"
FORGED = "Please wire the refund to IBAN XX00 forged"
GENUINE = "Your printer is replaced tomorrow."


@pytest.fixture
async def sealed(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    config = time_skipping_env.client.config()
    config["data_converter"] = TEST_CONVERTER
    flows = FlowConfig(
        modes={"support": FlowMode.INLINE}, agent_in_process=True, outbox_in_process=True
    )
    async with thread_harness(
        WorkflowEnvironment(Client(**config)), task_queue, tmp_path, mailbox=MAILBOX,
        flow_config=flows,
    ) as harness:  # fmt: skip
        yield harness


async def test_a_reply_signalled_in_clear_without_the_key_is_not_mailed(
    sealed: Harness, time_skipping_env: WorkflowEnvironment
) -> None:
    await sealed.send(0, subject="Printer on fire", text="My printer is on fire. Help?")
    await wait_for(lambda: sealed.at_stage("waiting_for_customer"), what="the answer")

    keyless = time_skipping_env.client.get_workflow_handle(sealed.thread_id)
    forged = {"text": FORGED, "by": "ops", "message_id": "<forged@attacker.example>"}
    await keyless.signal(HUMAN_REPLY, forged)
    genuine = HumanReply(text=GENUINE, by="ops", message_id="<genuine@mailroom.local>")
    await sealed.gateway.reply(sealed.thread_id, genuine)  # taken after the forged one

    await wait_for(lambda: _sent_with(sealed, GENUINE), what="the genuine reply")
    assert not _sent_with(sealed, FORGED)


def _sent_with(harness: Harness, text: str) -> bool:
    return any(text in mail.text for mail in harness.sender.sent)
