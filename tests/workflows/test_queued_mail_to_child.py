"""Mail that queues at a thread while its child flow starts (or while earlier mail is on its
way to it) goes to the child in one signal, in the order it came: one round trip for the
thread instead of one a mail, and the flow reads it as if it had come one by one. In history
format 4, mail that queued while the thread asked for the route goes with the child's start
instead (tests/workflows/test_support_humans.py), so no more than one signal."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.ledger import SqliteLedger
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from tests.support import wait_for
from tests.workflows.harness import mail_to_child, signal_names, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import ThreadStatus
from workflows.messages import NEW_MESSAGE, NEW_MESSAGES
from workflows.versions import HISTORY_FORMAT

MAILBOX = "procurement@mailroom.local"


@pytest.mark.parametrize("history_format", [HISTORY_FORMAT, 3], ids=["current", "format-3"])
async def test_mail_queued_while_the_child_starts_reaches_it_in_order_in_one_signal(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, history_format: int
) -> None:
    # The agent as an activity through the server: the thread's routing takes a round
    # trip, during which the two follow-ups queue at the thread.
    config = FlowConfig(modes={"procurement": FlowMode.CHILD})
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        h.gateway = TemporalThreadGateway(
            h.env.client,
            task_queue=h.settings.task_queue,
            flow_config=config,
            history_format=history_format,
        )
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        # someone else first (ignored while the flow waits for the requester), then the answer
        followed = await h.send(1, from_addr="bob@example.com", text="I want a mouse too.")
        budget = await h.send(2, text="Budget is EUR 200.")

        async def confirmed() -> bool:
            state = await h.state()
            return state.status is ThreadStatus.COMPLETED and state.stage == "confirmed"

        await wait_for(confirmed, what="the order")
        orders = SqliteLedger(h.settings.data_dir / "ledger.sqlite").purchase_orders()
        assert [o.total for o in orders] == [200]
        assert len(h.mails("question")) == 1  # asked once, answered by the queued mail
        child_id = (await h.state()).flow_workflow_id or ""
        child = await h.env.client.get_workflow_handle(child_id).fetch_history()
        names = signal_names(child)
        # once each, in order; in format 4 some or all with the start, as timing has it
        assert mail_to_child(child) == [followed.message_id, budget.message_id]
        if history_format < 4:
            assert names.count(NEW_MESSAGES) == 1, "both queued mails went in one signal"
        assert names.count(NEW_MESSAGE) == 0, names
