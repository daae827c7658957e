"""A child flow's progress reaches its thread once per report, by a signal with the
report's own request id (adapters/outbound/temporal_signals.py), on the real dev server."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.temporal_signals import TemporalWorkflowSignals
from use_cases.models import FlowProgress

SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED


async def _signals_in(client: Client, workflow_id: str) -> list[str]:
    """Each signal's first payload as the thread would read it (opened: payloads are sealed)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    sealed = [
        e.workflow_execution_signaled_event_attributes.input.payloads[0]
        for e in history.events
        if e.event_type == SIGNALED
    ]
    codec = client.data_converter.payload_codec
    return [p.data.decode() for p in (await codec.decode(sealed) if codec else sealed)]


@pytest.fixture
async def idle_workflow(dev_server: WorkflowEnvironment, task_queue: str) -> str:
    """A run that stays open: no worker serves its task queue."""
    workflow_id = f"signals-{uuid.uuid4()}"
    await dev_server.client.start_workflow("Idle", id=workflow_id, task_queue=task_queue)
    return workflow_id


@pytest.fixture
def signals(dev_server: WorkflowEnvironment) -> TemporalWorkflowSignals:
    return TemporalWorkflowSignals(dev_server.client)


async def test_a_report_sent_again_with_its_request_id_is_applied_once(
    dev_server: WorkflowEnvironment, idle_workflow: str, signals: TemporalWorkflowSignals
) -> None:
    client, workflow_id = dev_server.client, idle_workflow
    answered = FlowProgress(flow="support", stage="answered")
    waiting = FlowProgress(flow="support", stage="waiting_for_customer")

    assert await signals.signal(workflow_id, "FLOW_PROGRESS", answered, request_id="r1")
    assert await signals.signal(workflow_id, "FLOW_PROGRESS", answered, request_id="r1")  # retry
    assert await signals.signal(workflow_id, "FLOW_PROGRESS", waiting, request_id="r2")

    received = [
        FlowProgress.model_validate_json(s).stage for s in await _signals_in(client, workflow_id)
    ]
    assert received == ["answered", "waiting_for_customer"]


async def test_a_report_to_a_completed_workflow_is_not_delivered(
    dev_server: WorkflowEnvironment, idle_workflow: str, signals: TemporalWorkflowSignals
) -> None:
    client, workflow_id = dev_server.client, idle_workflow
    await client.get_workflow_handle(workflow_id).terminate("the thread completed")

    progress = FlowProgress(flow="support", stage="closed", finished=True)
    assert not await signals.signal(workflow_id, "FLOW_PROGRESS", progress, request_id="r1")
    assert not await signals.signal(
        f"never-{uuid.uuid4()}", "FLOW_PROGRESS", progress, request_id="r2"
    )


async def test_a_report_the_server_refuses_for_good_is_not_delivered_and_not_retried(
    dev_server: WorkflowEnvironment, idle_workflow: str, signals: TemporalWorkflowSignals
) -> None:
    client, workflow_id = dev_server.client, idle_workflow
    too_big = FlowProgress(flow="support", stage="x" * (3 * 1024 * 1024))  # over 2 MB

    assert not await signals.signal(workflow_id, "FLOW_PROGRESS", too_big, request_id="r1")
    assert await _signals_in(client, workflow_id) == []
