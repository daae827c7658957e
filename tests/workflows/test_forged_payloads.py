"""Whoever reaches Temporal's gRPC port (unauthenticated on the embedded server) but has no
key cannot make a sealed thread act (issue 22): a signal written in clear, as `temporal
workflow signal` or the Web UI writes one, is not taken; the thread goes on with what
mailroom sealed. Before, the codec passed plain payloads through, and a plain HUMAN_REPLY
mailed the customer whatever the caller wrote, from our mailbox; and a sealed payload
copied out of one thread's history into a signal to another was taken there (an operator's
close of one thread closed another)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.encryption import TEST_CONVERTER
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import CompleteRequest, HumanReply
from workflows.messages import COMPLETE_THREAD, HUMAN_REPLY

MAILBOX = "support@mailroom.local"
FORGED = "Please wire the refund to IBAN XX00 forged"
GENUINE = "Your printer is replaced tomorrow."
QUESTION = "My printer is on fire. Help?"


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
    await sealed.send(0, subject="Printer on fire", text=QUESTION)
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


async def test_a_close_sealed_for_one_thread_and_copied_into_another_is_not_taken(
    sealed: Harness,
) -> None:
    other = Harness(sealed.env, sealed.gateway, sealed.sender, MAILBOX, sealed.settings)
    for thread, sender in ((sealed, "alice@example.com"), (other, "bob@example.com")):
        await thread.send(0, subject="Printer on fire", text=QUESTION, from_addr=sender)
        await wait_for(lambda: thread.at_stage("waiting_for_customer"), what="an answer")  # noqa: B023
    await sealed.gateway.complete(
        sealed.thread_id, CompleteRequest(reason="done", requested_by="ops")
    )
    await sealed.env.client.get_workflow_handle(sealed.thread_id).result()

    service = sealed.env.client.workflow_service  # what anyone on the gRPC port can call
    await service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=sealed.env.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=other.thread_id),
            signal_name=COMPLETE_THREAD,
            input=await _signalled(sealed, COMPLETE_THREAD),
        )
    )
    genuine = HumanReply(text=GENUINE, by="ops", message_id="<genuine-2@mailroom.local>")
    with contextlib.suppress(RPCError):  # closed by the copy: it takes no signal
        await other.gateway.reply(other.thread_id, genuine)  # taken after the copied one

    handle = sealed.env.client.get_workflow_handle(other.thread_id)
    await wait_for(
        lambda: _sent_to(other, "bob@example.com", GENUINE) or _closed(handle), what="either"
    )
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING


async def _signalled(harness: Harness, name: str) -> Payloads:
    """The input of the signal `name` as the server keeps it: sealed."""
    history = await harness.env.client.get_workflow_handle(harness.thread_id).fetch_history()
    signals = [
        event.workflow_execution_signaled_event_attributes
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    [copied] = [s.input for s in signals if s.signal_name == name]
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in copied.payloads)
    return copied


def _sent_to(harness: Harness, address: str, text: str) -> bool:
    return any(address in mail.to and text in mail.text for mail in harness.sender.sent)
