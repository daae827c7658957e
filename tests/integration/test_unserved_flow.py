"""A registered flow that no worker serves: said at start and by `mailroom flows`; its mail
waits in Temporal (nothing lost, nothing answered in its name) until a worker for it starts,
then the flow runs as if nothing had happened."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.flow_checks import unserved_flows
from orchestrator.flow_workers import start_flow_workers
from orchestrator.flows import FLOWS, flow_named
from tests.faults.mta import raw_mail
from tests.stack import Stack, running_stack, stack_settings
from tests.support import wait_for
from use_cases.models import ThreadState
from use_cases.threading import workflow_id_for

PROCUREMENT = "procurement@mailroom.local"


async def test_mail_for_a_flow_without_a_worker_waits_until_one_starts(
    dev_server: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    unique: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    procurement = flow_named("procurement")
    assert procurement is not None
    others = [f for f in FLOWS if f is not procurement]
    settings = stack_settings(tmp_path, dev_server.client, task_queue)
    queue = procurement.queue_for(settings.queue_prefix)
    async with running_stack(dev_server.client, settings, served=others) as stack:
        said = capsys.readouterr().err
        assert f"WARNING    procurement: no worker polls {queue}: its mail waits" in said
        root = f"<order-{unique}@example.com>"
        mail = raw_mail(
            sender="kim@example.com",
            to=PROCUREMENT,
            subject="Monitors",
            message_id=root,
            body="Please order 3 monitors, budget EUR 600.\r\n",
        )
        await stack.send(mail, [PROCUREMENT], sender="kim@example.com")
        thread_id = workflow_id_for(PROCUREMENT, root)

        state = await wait_for(lambda: _in(stack, thread_id, stage=None), what="the routing")
        assert state.flow_mode == "child" and state.stage is None, "the flow has not begun"
        unserved = await unserved_flows(dev_server.client, FLOWS, settings)
        assert [f.name for f in unserved] == ["procurement"]
        assert not [e for e in stack.wiring.outbox.entries() if "procurement-" in e.message_id]

        async with AsyncExitStack() as later:  # a worker for procurement starts
            await start_flow_workers(stack.wiring, dev_server.client, later, [procurement])
            done = await wait_for(lambda: _in(stack, thread_id, "confirmed"), what="the order")
            assert str(done.facts["po_number"]).startswith("PO-")
            assert len(stack.wiring.ledger.purchase_orders()) == 1


async def _in(stack: Stack, thread_id: str, stage: str | None) -> ThreadState | None:
    """The thread once its flow is procurement and its stage `stage`."""
    state = await stack.gateway.get(thread_id)
    return state if state.flow == "procurement" and state.stage == stage else None
