"""A thread with mailroom's sealing converter on (issue 22) under the time-skipping server:
its flow runs as with the plain converter, in the child and inline modes, its stored history
holds no mail, and it replays with the codec. (The recorded histories, plain payloads written
before encryption, replay with it: tests/workflows/test_recorded_histories.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from orchestrator.workflow_runner import WORKFLOW_RUNNER
from tests.encryption import TEST_CONVERTER
from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from workflows.procurement import ProcurementWorkflow
from workflows.support import SupportWorkflow
from workflows.thread import ThreadWorkflow

MAILBOX = "support@mailroom.local"
QUESTION = {
    "subject": "Forgot my password at the Zanzibar office",
    "text": "I forgot my password and cannot login to the aquarium console.",
    "from_addr": "quentin@privacy.example",
}
WORKFLOWS = [ThreadWorkflow, ProcurementWorkflow, SupportWorkflow]


@pytest.fixture
async def sealed(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> AsyncIterator[Harness]:
    """The harness with a client of the same server whose converter seals payloads."""
    config = time_skipping_env.client.config()
    config["data_converter"] = TEST_CONVERTER
    client = Client(**config)
    flows = FlowConfig(
        modes={"support": mode},
        agent_in_process=mode is FlowMode.INLINE,
        outbox_in_process=mode is FlowMode.INLINE,
    )
    async with thread_harness(
        WorkflowEnvironment(client), task_queue, tmp_path, mailbox=MAILBOX, flow_config=flows
    ) as harness:
        yield harness


async def raw_history(client: Client, workflow_id: str) -> bytes:
    request = GetWorkflowExecutionHistoryRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    return (
        await client.workflow_service.get_workflow_execution_history(request)
    ).SerializeToString()


async def test_a_sealed_thread_is_answered_stores_no_mail_and_replays(sealed: Harness) -> None:
    await sealed.send(0, **QUESTION)
    await wait_for(lambda: sealed.at_stage("waiting_for_customer"), what="the answer")

    client = sealed.env.client
    kept = await raw_history(client, sealed.thread_id)
    assert b"binary/encrypted" in kept
    assert not [v for v in QUESTION.values() if v.encode() in kept]

    history = await client.get_workflow_handle(sealed.thread_id).fetch_history()
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=WORKFLOW_RUNNER
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
