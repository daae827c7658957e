"""History formats (workflows/versions.py). Format 2: a run the current code starts takes
every change of format 2 without asking `workflow.patched`, so its history holds no patch
marker and no TemporalChangeVersion upsert; a run started before (its input without the
field) asks as before, records them, and does the same. Format 3: a thread opening an inline
flow has its route bring the flow's settings, one local activity fewer; a run of format 2
asks for them as before, with the same outcome. Format 4: mail there behind a flow's first
mail goes with its start, not forwarded after it; a run of format 3 forwards it as before.
Recorded histories of each replay in test_recorded_histories.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from adapters.outbound.temporal_gateway import TemporalThreadGateway
from tests.support import wait_for
from tests.workflows.harness import (
    Harness,
    local_activities,
    mail_to_child,
    signal_names,
    thread_harness,
)
from tests.workflows.test_support_humans import burst_before_worker
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import ThreadInput, ThreadStatus
from workflows.messages import NEW_MESSAGE, NEW_MESSAGES
from workflows.thread import ThreadWorkflow
from workflows.versions import HISTORY_FORMAT, MAIL_TO_CHILD_BY_ACTIVITY, QUEUED_MAIL_TO_CHILD

MAILBOX = "procurement@mailroom.local"
SUPPORT = "support@mailroom.local"
MARKER = EventType.EVENT_TYPE_MARKER_RECORDED
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES


def patches(history: WorkflowHistory) -> set[str]:
    """The patch ids the run recorded markers for (the SDK core's `core_patch` markers)."""
    found = set()
    for event in history.events:
        if event.event_type != MARKER:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            found.add(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return found


def change_version_upserts(history: WorkflowHistory) -> int:
    return sum(
        1
        for event in history.events
        if event.event_type == UPSERT
        and "TemporalChangeVersion"
        in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    )


async def first_mail(h: Harness, history_format: int) -> None:
    """The thread's first mail, through a gateway starting threads in `history_format`
    (MAILROOM_HISTORY_FORMAT): 1 is what a build from before formats were named started."""
    gateway = TemporalThreadGateway(
        h.env.client,
        task_queue=h.settings.task_queue,
        flow_config=FlowConfig(modes={"procurement": FlowMode.CHILD}),
        history_format=history_format,
    )
    await gateway.new_message(h.key, h.message(0, subject="Order", text="Please buy 4 keyboards."))


@pytest.mark.parametrize(
    "history_format",
    [HISTORY_FORMAT, 3, 2, 1],
    ids=["current", "format-3", "format-2", "started-before"],
)
async def test_a_run_of_the_current_format_records_no_patch_and_does_the_same(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    history_format: int,
) -> None:
    config = FlowConfig(modes={"procurement": FlowMode.CHILD})
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        await first_mail(h, history_format)
        followed = await h.send(1, from_addr="bob@example.com", text="I want a mouse too.")
        budget = await h.send(2, text="Budget is EUR 200.")

        async def confirmed() -> bool:
            state = await h.state()
            return state.status is ThreadStatus.COMPLETED and state.stage == "confirmed"

        await wait_for(confirmed, what="the order")
        client = h.env.client
        thread = await client.get_workflow_handle(h.key.workflow_id).fetch_history()
        child_id = (await h.state()).flow_workflow_id or ""
        child = await client.get_workflow_handle(child_id).fetch_history()
        signals = signal_names(child)
        # the same behaviour either way: the queued mails reached the child in one signal,
        # sent by local activity (no signal command in the thread); in format 4 those that
        # came while the thread asked for the route went with the child's start instead
        assert mail_to_child(child) == [followed.message_id, budget.message_id]
        if history_format < 4:
            assert signals.count(NEW_MESSAGES) == 1, signals
        assert not any(
            e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
            for e in thread.events
        )
        if history_format >= 2:
            assert patches(thread) == patches(child) == set()
            assert change_version_upserts(thread) == change_version_upserts(child) == 0
        else:
            assert patches(thread) == {QUEUED_MAIL_TO_CHILD, MAIL_TO_CHILD_BY_ACTIVITY}
            assert change_version_upserts(thread) > 0


# The SDK made the start signal's handler coroutine before the workflow's __init__ refused
# the run, and drops it unawaited when the task fails: its warning, not ours.
@pytest.mark.filterwarnings("ignore:coroutine .*run_signal' was never awaited:RuntimeWarning")
async def test_a_run_of_a_later_format_waits_for_a_worker_that_knows_it(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Started by a newer build: this worker fails its workflow task (retried) instead of
    running it as a format it knows."""
    async with thread_harness(time_skipping_env, task_queue, tmp_path, mailbox=MAILBOX) as h:
        handle = await h.env.client.start_workflow(
            ThreadWorkflow.run,
            ThreadInput(
                thread_id=h.key.workflow_id, mailbox=MAILBOX, history_format=HISTORY_FORMAT + 1
            ),
            id=h.key.workflow_id,
            task_queue=h.settings.task_queue,
            start_signal=NEW_MESSAGE,
            start_signal_args=[h.message(0)],
        )

        async def refused() -> str | None:
            history = await handle.fetch_history()
            for event in history.events:
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return event.workflow_task_failed_event_attributes.failure.message
            return None

        await wait_for(refused, what="the refused workflow task")
        history = await handle.fetch_history()
        assert not any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events
        ), "the run ran"
        await handle.terminate("test over")


@pytest.mark.parametrize("history_format", [HISTORY_FORMAT, 2], ids=["current", "format-2"])
async def test_a_new_inline_flow_takes_its_workers_settings_from_the_route_in_format_3(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    history_format: int,
) -> None:
    """The worker's settings reach a new inline flow either way (its support team, here,
    which the thread's config from the receiving process lacks): in format 3 with the route,
    in no local activity of the flow's own; in format 2 by that activity, as before."""
    team = "ann@corp.example"
    workers = FlowConfig(
        modes={"support": FlowMode.INLINE},
        support_team=team,
        agent_in_process=True,
        outbox_in_process=True,
    )
    async with thread_harness(
        time_skipping_env, task_queue, tmp_path, mailbox=SUPPORT, flow_config=workers
    ) as h:
        gateway = TemporalThreadGateway(
            h.env.client,
            task_queue=h.settings.task_queue,
            flow_config=workers.model_copy(update={"support_team": ""}),
            history_format=history_format,
        )
        unknown = h.message(0, subject="Strange noise", text="The fan makes a strange noise.")
        await gateway.new_message(h.key, unknown)
        notices = await wait_for(lambda: h.mails("escalation"), what="the team's notice")
        assert [m.to for m in notices] == [(team,)]
        history = await h.env.client.get_workflow_handle(h.key.workflow_id).fetch_history()
    asked = local_activities(history)
    assert asked[0] == "flow_route"
    assert asked.count("flow_settings") == (0 if history_format >= 3 else 1), asked


@pytest.mark.parametrize("history_format", [HISTORY_FORMAT, 3], ids=["current", "format-3"])
async def test_mail_there_before_a_child_flow_opens_goes_with_its_start_in_format_4(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    history_format: int,
) -> None:
    """Two mails there before the thread runs: in format 4 the second goes with the child
    flow's start (no forward, one answer to both); in format 3 the thread forwards it
    after the start, as it always did (its forward held here until the flow asks for its
    answer)."""
    root = f"<burst-{tmp_path.name}@example.com>"
    async with burst_before_worker(
        time_skipping_env, task_queue, tmp_path, FlowMode.CHILD, root, None, history_format
    ) as h:
        [answer] = await wait_for(lambda: h.mails("answer"), what="the answer")
        thread = h.env.client.get_workflow_handle(h.key.workflow_id)

        async def forwards() -> list[int] | None:
            count = local_activities(await thread.fetch_history()).count("forward_to_flow")
            return [count] if count or history_format >= 4 else None

        expected = 0 if history_format >= 4 else 1
        assert await wait_for(forwards, what="the thread's forwards") == [expected]
        if history_format >= 4:
            assert answer.in_reply_to == h.message(1).message_id
