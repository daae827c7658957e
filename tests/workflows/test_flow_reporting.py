"""What a flow shows outside itself: its stage as search attributes (the Web UI filters
threads by them) and, from a child workflow, its progress to the thread. A step through
several stages costs at most one upsert and one signal, of the stage the flow came to rest
at, and a rest that repeats the last one reported costs none (the thread is shown it from
the child); a child sends its reports by local activity, not by a signal command (which costs it
one more workflow task per report)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support import wait_for
from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowConfig, FlowMode
from use_cases.models import FlowProgress, StageChange
from use_cases.tickets import ticket_reference
from workflows.messages import FLOW_PROGRESS, FLOW_PROGRESS_QUERY
from workflows.search_attributes import (
    REFERENCE_ATTRIBUTE,
    REQUESTER_ATTRIBUTE,
    STAGE_ATTRIBUTE,
    SUBJECT_ATTRIBUTE,
)

STAGE_KEY = STAGE_ATTRIBUTE.name

MAILBOX = "support@mailroom.local"
KNOWN = {"subject": "Forgot my password", "text": "I forgot my password and cannot login."}
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
SIGNAL_OUT = EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
STAGE_UPSERTS = "stage upserts"
REPORTS = "progress reports received"
SIGNAL_COMMANDS = "signal commands of the flow"


@pytest.mark.parametrize("mode", [FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
async def test_each_answer_reports_where_the_flow_rests_not_every_stage_nor_a_repeated_rest(
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
        before = await _counts(h, flow_id, "waiting_for_customer")
        for n in range(1, 4):  # it did not help: escalated, and it rests there
            await h.send(n, text=f"Still cannot login (attempt {n}).")
            await wait_for(lambda n=n: _waited(h, n + 1), what=f"answer {n}")  # type: ignore[misc]
        after = await _counts(h, flow_id, "escalated")
        # The rest moved once, to `escalated`, and stayed there: one upsert, not one a mail.
        assert after[STAGE_UPSERTS] == before[STAGE_UPSERTS] + 1
        if mode is FlowMode.CHILD:
            # Escalated, then escalated again for another reason; the third rest repeats
            # the second (the same stage and note) and is not reported...
            assert after[REPORTS] - before[REPORTS] == 2
            assert after[SIGNAL_COMMANDS] == 0
        # ...yet the thread shows every rest, the third from the child itself.
        shown = [(c.stage, c.note) for c in (await h.state()).history]
        assert shown[-3:] == [
            ("escalated", "account: the customer says it did not help"),
            ("escalated", "account: the customer wrote again"),
            ("escalated", "account: the customer wrote again"),
        ]
        query = (
            f'WorkflowId = "{h.thread_id}" AND MailroomFlow = "support" '
            'AND MailroomStage = "escalated"'
        )
        await wait_for(lambda: _listed(h.env.client, query), what="the thread found by stage")


async def test_a_thread_is_listed_with_its_subject_requester_and_reference_set_once(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """What the Web UI's list can show as columns: set with the first stage, as one line
    of text (a subject from mail may carry line breaks and terminal escapes), and not
    upserted again while they stay the same."""
    config = FlowConfig(modes={"support": FlowMode.INLINE}, search_attributes=True)
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        subject = "Forgot my\r\n  password \x1b[31mnow"
        await h.send(0, **{**KNOWN, "subject": subject, "from_addr": "carol@example.com"})
        await wait_for(lambda: _waited(h, 1), what="the first answer")
        for n in range(1, 3):
            await h.send(n, text=f"Still cannot login (attempt {n}).")
            await wait_for(lambda n=n: _waited(h, n + 1), what=f"answer {n}")  # type: ignore[misc]
        query = f'WorkflowId = "{h.thread_id}" AND MailroomRequester = "carol@example.com"'
        await wait_for(lambda: _listed(h.env.client, query), what="the thread by requester")
        described = await h.env.client.get_workflow_handle(h.thread_id).describe()
        shown = described.typed_search_attributes
        assert shown.get(SUBJECT_ATTRIBUTE) == "Forgot my password [31mnow"
        assert shown.get(REQUESTER_ATTRIBUTE) == "carol@example.com"
        assert shown.get(REFERENCE_ATTRIBUTE) == ticket_reference(h.thread_id)
        assert await _upserts_of(h, SUBJECT_ATTRIBUTE.name) == 1


async def _upserts_of(h: Harness, name: str) -> int:
    history = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
    return sum(
        e.event_type == UPSERT
        and name
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
    )


async def _waited(h: Harness, times: int) -> bool:
    """`times` mails handled: each rests waiting for the customer or, escalated, a person."""
    stages = [c.stage for c in (await h.state()).history]
    return stages.count("waiting_for_customer") + stages.count("escalated") >= times


async def _listed(client: Client, query: str) -> bool:
    return [w async for w in client.list_workflows(query)] != []


async def _counts(h: Harness, flow_id: str, stage: str) -> dict[str, int]:
    """In the thread's history, once it has settled with `stage` upserted: upserts of the
    flow's stage (not those of the thread's subject, requester or reference alone) and
    progress reports received; signal commands in the flow's (a child)."""
    thread = await wait_for(lambda: _settled_at(h, stage), what=f"the history at {stage}")
    flow = await h.env.client.get_workflow_handle(flow_id).fetch_history()
    return {
        STAGE_UPSERTS: len(_stage_upserts(thread)),
        REPORTS: sum(
            e.event_type == SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == FLOW_PROGRESS
            for e in thread
        ),
        SIGNAL_COMMANDS: sum(
            e.event_type == SIGNAL_OUT for e in flow.events if flow_id != h.thread_id
        ),
    }


async def _settled_at(h: Harness, stage: str) -> list[HistoryEvent] | None:
    """The thread's history once its last stage upsert is `stage` and every signal in it
    was handled by a completed workflow task. The thread's query and its history are two
    reads: a query that reaches the worker while it runs a workflow task is answered from
    the state that task leaves, and that answer can come back before the server has
    written the task's events — a history read right after the query may still lack the
    upsert the query's state already shows (seen once in CI: 1 upsert counted, not 2)."""
    events = list((await h.env.client.get_workflow_handle(h.thread_id).fetch_history()).events)
    upserts = _stage_upserts(events)
    completed = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    signals = [i for i, e in enumerate(events) if e.event_type == SIGNALED]
    handled = not signals or (completed != [] and signals[-1] < completed[-1])
    return events if handled and upserts and upserts[-1] == stage else None


def _stage_upserts(events: list[HistoryEvent]) -> list[str]:
    """The stages upserted, in order."""
    return [
        json.loads(
            e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields[
                STAGE_KEY
            ].data
        )
        for e in events
        if e.event_type == UPSERT
        and STAGE_KEY
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]


async def test_a_report_arriving_again_out_of_order_or_from_an_earlier_flow_changes_nothing(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """A child's report goes by local activity, which runs again when its workflow task is
    retried: the thread may hear reports again, older ones after newer ones, or late, after
    it moved to another flow."""
    config = FlowConfig(modes={"support": FlowMode.CHILD}, search_attributes=True)
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        await h.send(0, **KNOWN)
        await wait_for(lambda: _waited(h, 1), what="the first answer")
        before = await h.state()
        last = FlowProgress(
            flow="support",
            stage=before.stage or "",
            history=before.history,
            seq=before.flow_report_seq,
            reporter=f"{h.thread_id}-support-1",
        )
        earlier_flow = FlowProgress(
            flow="procurement",
            stage="ordered",
            finished=True,
            facts={"po_number": "PO-1"},
            history=[StageChange(stage="ordered", at=datetime.now(UTC))],
            reporter=f"{h.thread_id}-procurement-0",
        )
        # Heard again after newer ones: the task that sent them retried after the thread
        # continued-as-new (a new run, which the request id does not dedupe in).
        older = last.model_copy(
            update={"stage": "answered", "history": before.history[:-1], "seq": last.seq - 1}
        )
        thread = h.env.client.get_workflow_handle(h.thread_id)
        heard = len(await _reports_received(h))
        for report in (last, older, earlier_flow):
            await thread.signal(FLOW_PROGRESS, report)
        await wait_for(lambda: _reports_handled(h, heard + 3), what="the reports handled")
        after = await h.state()
        assert after.model_dump(exclude={"message_ids"}) == before.model_dump(
            exclude={"message_ids"}
        )


async def _reports_received(h: Harness) -> list[int]:
    """Positions of the FLOW_PROGRESS signals the thread has handled (a workflow task
    completed after them)."""
    history = await h.env.client.get_workflow_handle(h.thread_id).fetch_history()
    events = list(history.events)
    completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    return [
        i
        for i, e in enumerate(events)
        if e.event_type == SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == FLOW_PROGRESS
        and any(later.event_type == completed for later in events[i:])
    ]


async def _reports_handled(h: Harness, count: int) -> bool:
    """`count` reports in the history, each followed by a completed workflow task."""
    return len(await _reports_received(h)) >= count


async def test_a_report_from_a_workflow_task_the_killed_worker_lost_leaves_each_stage_once(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """A child's report by local activity reaches the thread at once, but the workflow task
    that sent it completes only later: when its worker is killed before, the task runs again
    on another worker, which passes the same stages at other times (the report's local
    activity runs again too, and that report is a repeat by `seq`). The thread keeps each
    stage once, as the child recorded it, not its last stage looked up in the child's next
    report by equality (not found: another time) and every stage of the flow again."""
    config = FlowConfig(modes={"support": FlowMode.CHILD})
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        child = f"{h.thread_id}-support-1"
        await h.send(0, **KNOWN)
        await wait_for(lambda: _waited(h, 1), what="the first answer")
        before = await h.state()
        # What the lost task reported of the next answer: a stage the child, run again,
        # records at another time.
        lost = FlowProgress(
            flow="support",
            stage="answered",
            history=[*before.history, StageChange(stage="answered", at=datetime.now(UTC))],
            seq=before.flow_report_seq + 1,
            reporter=child,
        )
        heard = len(await _reports_received(h))
        await h.env.client.get_workflow_handle(h.thread_id).signal(FLOW_PROGRESS, lost)
        await wait_for(lambda: _reports_handled(h, heard + 1), what="the lost task's report")
        # another question: a second answer, and the flow rests waiting for the customer
        await h.send(1, text="Another question: where is a copy of my invoice? Billing.")
        await wait_for(lambda: _waited(h, 2), what="the second answer")
        after = await h.state()
        recorded = await h.env.client.get_workflow_handle(child).query(
            FLOW_PROGRESS_QUERY, result_type=FlowProgress
        )
        assert _stages(after.history) == _stages(recorded.history)


def _stages(history: list[StageChange]) -> list[str]:
    return [f"{c.stage}@{c.at:%H:%M:%S.%f}" for c in history]


async def test_mail_for_a_child_flow_that_closed_meanwhile_goes_to_a_later_flow(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """The thread forwards mail to its child flow by signal; when the child has just closed
    (its last report still on the way), the signal finds no workflow. The thread must not
    fail: the mail starts a later flow. Closing the child by hand makes the race certain."""
    config = FlowConfig(modes={"support": FlowMode.CHILD})
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox=MAILBOX, flow_config=config
    ) as h:
        await h.send(0, **KNOWN)
        await wait_for(lambda: _waited(h, 1), what="the first answer")
        child = h.env.client.get_workflow_handle(f"{h.thread_id}-support-1")
        await child.terminate(reason="closed before the thread's next mail reached it")
        await h.send(1, text="Also, my printer is on fire.")
        state = await wait_for(lambda: _second_flow(h), what="a later flow for the mail")
        assert state.flow_workflow_id == f"{h.thread_id}-support-2"
        described = await h.env.client.get_workflow_handle(h.thread_id).describe()
        assert described.status is not None and described.status.name == "RUNNING"


async def _second_flow(h: Harness) -> object:
    state = await h.state()
    return state if state.flows_started >= 2 else None


async def test_an_answer_still_missing_the_same_item_is_shown_but_not_reported_again(
    dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Procurement asks its requester again for the same missing item: the child rests
    where it rested, so the thread hears no report of it (no signal, no workflow task), and
    is still shown both questions' stages."""
    config = FlowConfig(
        modes={"procurement": FlowMode.CHILD}, agent_in_process=True, outbox_in_process=True
    )
    async with thread_harness(
        dev_server, task_queue, tmp_path, mailbox="procurement@mailroom.local", flow_config=config
    ) as h:
        await h.send(0, subject="Order", text="Please buy 4 keyboards.")
        await wait_for(lambda: len(h.mails("question")) >= 1, what="the first question")
        await wait_for(lambda: _reports_handled(h, 1), what="the first report")
        await h.send(1, text="I will ask my manager about the money.")
        await wait_for(lambda: len(h.mails("question")) >= 2, what="the second question")
        state = await wait_for(lambda: _asked(h, 2), what="both questions shown")
        shown = [c.stage for c in state.history]
        assert shown == ["extracting", "awaiting_info", "extracting", "awaiting_info"]
        assert len(await _reports_received(h)) == 1


async def _asked(h: Harness, times: int) -> object:
    state = await h.state()
    return state if [c.stage for c in state.history].count("awaiting_info") >= times else None
