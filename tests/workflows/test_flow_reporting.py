"""What a flow shows outside itself: its stage as search attributes (the Web UI filters
threads by them) and, from a child workflow, its progress to the thread. A step through
several stages costs at most one upsert and one signal, of the stage the flow came to rest
at."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode

MAILBOX = "support@mailroom.local"
KNOWN = {"subject": "Forgot my password", "text": "I forgot my password and cannot login."}
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
SIGNAL_OUT = EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED


@pytest.mark.parametrize("mode", [FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def test_each_answer_reports_where_the_flow_rests_not_every_stage_passed(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path, mode: FlowMode
) -> None:
    local = mode is FlowMode.INLINE
    config = FlowConfig(
        modes={"support": mode},
        search_attributes=True,
        agent_in_process=local,
        outbox_in_process=local,
    )
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        flow_id = h.thread_id if mode is FlowMode.INLINE else f"{h.thread_id}-support-1"
        await h.send(0, **KNOWN)
        await wait_for(lambda: _waited(h, 1), what="the first answer")
        before = await _counts(h, flow_id)
        for n in range(1, 4):  # each: answered, then waiting_for_customer
            await h.send(n, text=f"Still cannot login (attempt {n}).")
            await wait_for(lambda n=n: _waited(h, n + 1), what=f"answer {n}")  # type: ignore[misc]
        after = await _counts(h, flow_id)
        # Each step passed `answered` and came back to rest where it was: nothing to upsert.
        assert after[UPSERT] == before[UPSERT]
        if mode is FlowMode.CHILD:
            assert after[SIGNAL_OUT] - before[SIGNAL_OUT] == 3
        query = (
            f'WorkflowId = "{h.thread_id}" AND MailroomFlow = "support" '
            'AND MailroomStage = "waiting_for_customer"'
        )
        await wait_for(lambda: _listed(h.env.client, query), what="the thread found by stage")


async def _waited(h: Harness, times: int) -> bool:
    stages = [c.stage for c in (await h.state()).history]
    return stages.count("waiting_for_customer") >= times


async def _listed(client: Client, query: str) -> bool:
    return [w async for w in client.list_workflows(query)] != []


async def _counts(h: Harness, flow_id: str) -> dict[EventType.ValueType, int]:
    """Upserts in the thread's history; progress signals sent from the flow's (if a child)."""
    thread = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
    flow = await h.env.client.get_workflow_handle(flow_id).fetch_history()
    return {
        UPSERT: sum(e.event_type == UPSERT for e in thread.events),
        SIGNAL_OUT: sum(e.event_type == SIGNAL_OUT for e in flow.events if flow_id != h.thread_id),
    }
