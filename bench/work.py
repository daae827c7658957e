"""Temporal work per mail, counted from the workflow histories a pass created.

After a pass, every run of every thread workflow it addressed is read back, and every child
workflow those runs started (and their runs), as `bench.history` reads them for latencies.
From the events: history events, workflow tasks (each WorkflowTaskStarted: a task the worker
ran), activities (normal: ActivityTaskScheduled; local: one marker each), signals received,
child workflows and timers started, search-attribute upserts, and the billable actions they
add up to.

Actions follow Temporal Cloud's definition (docs.temporal.io/cloud/actions, "Temporal Cloud
Actions", read 2026-12): a workflow started by a client or by continue-as-new is one action,
but a signal-with-start is one action in all, started or not (so a run whose first event
after its start is the signal costs only that signal); a child workflow is two (its start
and its execution, counted at the parent's StartChildWorkflowExecutionInitiated, so the
child's own start is free); every signal, from a client, a workflow or an activity, is one
(counted where it is received); every timer started is one; every UpsertSearchAttributes
command is one; every activity attempt (started or retried) is one; all the local activities
recorded by one workflow task are one together (Cloud counts the RecordMarker commands of a
task as one action). Not in histories, so not counted: queries (the bench sends none),
activity heartbeats (none reach the server in these flows: their activities are local or
finish well within a heartbeat interval) and workflow-task heartbeats of a long local
activity (none here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.history import HISTORY_CONCURRENCY, run_histories

LOCAL_ACTIVITY_MARKER = "core_local_activity"  # sdk-core's marker name for a local activity
CHANGE_VERSION_ATTRIBUTE = "TemporalChangeVersion"  # exempt from the upsert action


@dataclass
class TemporalWork:
    runs: int = 0
    events: int = 0
    workflow_tasks: int = 0
    activities: int = 0
    local_activities: int = 0
    signals: int = 0
    children: int = 0
    timers: int = 0
    upserts: int = 0
    actions: int = 0

    def __add__(self, other: TemporalWork) -> TemporalWork:
        return TemporalWork(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def per_mail(self, mails: int) -> dict[str, float]:
        return {k: round(v / mails, 2) if mails else 0.0 for k, v in asdict(self).items()}


def _counts(events: Sequence[HistoryEvent], kinds: Iterable[EventType.ValueType]) -> int:
    wanted = set(kinds)
    return sum(1 for e in events if e.event_type in wanted)


def _start_actions(events: Sequence[HistoryEvent]) -> int:
    """A run's own start: free for a child (its parent paid two) and for a signal-with-start
    (the signal is the one action); one for a client start or a continue-as-new."""
    started = events[0].workflow_execution_started_event_attributes
    if started.HasField("parent_workflow_execution"):
        return 0
    if started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW:
        return 1
    signalled_with_start = (
        len(events) > 1 and events[1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    return 0 if signalled_with_start else 1


def _billable_upserts(events: Sequence[HistoryEvent]) -> int:
    upserts = (
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    )
    return sum(1 for fields_set in upserts if set(fields_set) != {CHANGE_VERSION_ATTRIBUTE})


def run_work(events: Sequence[HistoryEvent]) -> TemporalWork:
    """The work one run's history records."""
    if not events:
        return TemporalWork()
    markers = [
        e.marker_recorded_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    ]
    attempts = sum(
        max(e.activity_task_started_event_attributes.attempt, 1)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    )
    work = TemporalWork(
        runs=1,
        events=len(events),
        workflow_tasks=_counts(events, [EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]),
        activities=_counts(events, [EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]),
        local_activities=len(markers),
        signals=_counts(events, [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]),
        children=_counts(events, [EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]),
        timers=_counts(events, [EventType.EVENT_TYPE_TIMER_STARTED]),
        upserts=_billable_upserts(events),
    )
    local_activity_tasks = len({m.workflow_task_completed_event_id for m in markers})
    work.actions = (
        _start_actions(events)
        + work.signals
        + 2 * work.children
        + work.timers
        + work.upserts
        + attempts
        + local_activity_tasks
    )
    return work


def children_started(events: Iterable[HistoryEvent]) -> list[str]:
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def work_of(client: Client, workflow_ids: Iterable[str]) -> TemporalWork:
    """Everything the workflows `workflow_ids` recorded, all their runs and children."""
    limit = asyncio.Semaphore(HISTORY_CONCURRENCY)
    seen: set[str] = set()

    async def one(workflow_id: str) -> TemporalWork:
        async with limit:
            runs = await run_histories(client, workflow_id)
        total = TemporalWork()
        children: list[str] = []
        for events in runs:
            total += run_work(events)
            children += [c for c in children_started(events) if c not in seen]
        seen.update(children)
        for child in await asyncio.gather(*(one(c) for c in children)):
            total += child
        return total

    ids = [w for w in dict.fromkeys(workflow_ids) if w not in seen]
    seen.update(ids)
    total = TemporalWork()
    for work in await asyncio.gather(*(one(w) for w in ids)):
        total += work
    return total


@dataclass
class PassWork:
    """A pass's Temporal work, its accepted mails, and the CPU seconds of its processes."""

    work: TemporalWork
    mails: int
    cpu_seconds: dict[str, float]
    processes: tuple[str, ...]  # ours in this pass; the server is always reported

    @classmethod
    async def read(
        cls,
        client: Client,
        workflow_ids: Iterable[str],
        mails: int,
        cpu_seconds: dict[str, float],
        processes: tuple[str, ...] = ("smtp", "worker"),
    ) -> PassWork:
        return cls(await work_of(client, workflow_ids), mails, cpu_seconds, processes)

    def cpu_ms_per_mail(self) -> dict[str, float]:
        wanted = [*self.processes, "server"]
        return {
            p: round(self.cpu_seconds.get(p, 0.0) * 1000 / self.mails, 2) if self.mails else 0.0
            for p in wanted
        }


HEADLINE = ("events", "workflow_tasks", "actions")


def work_comparison(mailroom: PassWork, baseline: PassWork) -> dict[str, object]:
    """The JSON figures: per mail for mailroom and the baseline, and mailroom's multiple."""
    ours, theirs = mailroom.work.per_mail(mailroom.mails), baseline.work.per_mail(baseline.mails)
    figures: dict[str, object] = {f"{k}_per_mail": ours[k] for k in HEADLINE}
    figures |= {f"baseline_{k}_per_mail": theirs[k] for k in HEADLINE}
    figures |= {
        f"{k}_vs_baseline": round(ours[k] / theirs[k], 2) if theirs[k] else 0.0 for k in HEADLINE
    }
    figures |= {
        "work_per_mail": ours,
        "baseline_work_per_mail": theirs,
        "cpu_ms_per_mail": mailroom.cpu_ms_per_mail(),
        "baseline_cpu_ms_per_mail": baseline.cpu_ms_per_mail(),
    }
    print(
        "Temporal work per mail (baseline): "
        + ", ".join(f"{k} {ours[k]:.2f} ({theirs[k]:.2f})" for k in HEADLINE)
        + "; "
        + ", ".join(f"{k} {v}" for k, v in ours.items() if k not in HEADLINE)
    )
    print(
        "CPU ms per mail: "
        + ", ".join(f"{k} {v}" for k, v in mailroom.cpu_ms_per_mail().items())
        + "; baseline: "
        + ", ".join(f"{k} {v}" for k, v in baseline.cpu_ms_per_mail().items())
    )
    return figures
