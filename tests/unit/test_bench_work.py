"""The Temporal work bench.ingest reports per mail, counted from histories as Temporal Cloud
bills it (bench/work.py): a recorded thread and its child flow, and hand-made runs for the
rules a recorded history does not show."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    WorkflowExecutionStartedEventAttributes,
)
from temporalio.client import WorkflowHistory

from bench.work import LOCAL_ACTIVITY_MARKER, TemporalWork, run_work

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"
E = EventType


def recorded(name: str) -> list[HistoryEvent]:
    path = HISTORIES / name
    return list(WorkflowHistory.from_json(path.stem, path.read_text()).events)


def started(**fields: object) -> HistoryEvent:
    return HistoryEvent(
        event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            **fields  # type: ignore[arg-type]
        ),
    )


def event(kind: EventType.ValueType) -> HistoryEvent:
    return HistoryEvent(event_type=kind)


def workflow_task() -> list[HistoryEvent]:
    return [
        event(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ]


def local_activity(task_completed_id: int) -> HistoryEvent:
    return HistoryEvent(
        event_type=E.EVENT_TYPE_MARKER_RECORDED,
        marker_recorded_event_attributes=MarkerRecordedEventAttributes(
            marker_name=LOCAL_ACTIVITY_MARKER, workflow_task_completed_event_id=task_completed_id
        ),
    )


def test_a_signal_with_start_is_one_action_for_start_and_signal() -> None:
    run = [started(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED), *workflow_task()]
    work = run_work(run)
    assert (work.events, work.workflow_tasks, work.signals, work.actions) == (5, 1, 1, 1)


def test_a_client_start_and_a_continue_as_new_are_one_action_each() -> None:
    assert run_work([started(), *workflow_task()]).actions == 1
    initiator = ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
    assert run_work([started(initiator=initiator), *workflow_task()]).actions == 1


def test_local_activities_of_one_workflow_task_are_one_action() -> None:
    run = [
        started(),
        *workflow_task(),
        local_activity(4),
        local_activity(4),
        *workflow_task(),
        local_activity(7),
    ]
    work = run_work(run)
    assert (work.local_activities, work.actions) == (3, 1 + 2)


def test_every_activity_attempt_is_an_action() -> None:
    retried = HistoryEvent(
        event_type=E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=3),
    )
    run = [started(), *workflow_task(), event(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), retried]
    work = run_work(run)
    assert (work.activities, work.actions) == (1, 1 + 3)


def test_a_recorded_thread_pays_for_its_signals_child_timer_upserts_and_activity() -> None:
    thread = recorded("procurement-child-thread.json")
    work = run_work(thread)
    assert work.events == len(thread)
    assert work.children == 1 and work.timers == 1 and work.activities == 1
    # started by signal-with-start: the start is in the first signal's action
    expected = work.signals + 2 * work.children + work.timers + work.upserts + 1
    assert work.actions == expected
    assert work.signals == sum(
        1 for e in thread if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )


def test_a_child_flows_own_start_is_paid_by_its_parent() -> None:
    child = recorded("procurement-child-flow.json")
    assert child[0].workflow_execution_started_event_attributes.HasField(
        "parent_workflow_execution"
    )
    work = run_work(child)
    orphan = [started(), *child[1:]]
    assert run_work(orphan).actions == work.actions + 1
    assert work.local_activities > 0 and work.activities > 0


def test_work_adds_up_and_divides_per_mail() -> None:
    one = TemporalWork(events=10, workflow_tasks=2, actions=3)
    total = one + one
    assert total.per_mail(4) == {
        **{k: 0.0 for k in total.per_mail(1)},
        **{
            "events": 5.0,
            "workflow_tasks": 1.0,
            "actions": 1.5,
        },
    }
