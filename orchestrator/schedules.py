"""Registered flows on Temporal Schedules (seed 002): what a schedule starts, and its rows.

A schedule starts its flow's workflow with an input validated by the flow's input model, on
the flow's task queue; its runs are named `<schedule>-<time>` (the server appends the
time) and never overlap (a firing while the last run still runs is skipped). Only flows
that run alone (`threaded=False`) can be scheduled: a threaded flow runs inside a thread.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.flow_spec import FlowSpec, KeptSchedule, _workflow_type

CRON_MEMO = "mailroom_cron"
CALENDAR_FIELDS = ("minute", "hour", "day_of_month", "month", "day_of_week")
FULL_RANGES = {"minute": (0, 59), "hour": (0, 23), "day_of_month": (1, 31), "month": (1, 12)}
FULL_RANGES["day_of_week"] = (0, 6)


class ScheduleError(ValueError):
    """A schedule that cannot be made as asked, in one line."""


class ScheduleExists(ScheduleError):
    pass


def schedulable(spec: FlowSpec) -> FlowSpec:
    if spec.threaded:
        raise ScheduleError(
            f"flow {spec.name!r} runs inside a mail thread (threaded): it cannot be "
            "scheduled; only flows that run alone can"
        )
    return spec


def flow_schedule(
    spec: FlowSpec,
    schedule_id: str,
    flow_input: BaseModel,
    *,
    cron: str | None = None,
    every: timedelta | None = None,
    paused: bool = False,
    queue_prefix: str = "",
) -> Schedule:
    """What `schedule_id` starts, and when (one of `cron` and `every`)."""
    schedulable(spec)
    when = (
        ScheduleSpec(cron_expressions=[cron])
        if cron
        else ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every or timedelta(days=1))])
    )
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            _workflow_type(spec.workflow),
            flow_input,
            id=schedule_id,
            task_queue=spec.queue_for(queue_prefix),
            # the server keeps a cron as calendars: the expression as given, to compare
            memo={CRON_MEMO: cron or ""},
        ),
        spec=when,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    schedule.state.paused = paused
    return schedule


async def create_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        raise ScheduleExists(f"a schedule named {schedule_id!r} exists already") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise ScheduleError(f"{schedule_id}: Temporal refused it: {exc.message}") from None
        raise


async def keep_schedule(
    client: Client, spec: FlowSpec, kept: KeptSchedule, queue_prefix: str = ""
) -> str:
    """Create `kept`, or update it when its cron, input or queue changed (an operator's
    pause stays). Says which: created, updated or unchanged."""
    wanted = flow_schedule(
        spec, kept.schedule_id, kept.input, cron=kept.cron, queue_prefix=queue_prefix
    )
    handle = client.get_schedule_handle(kept.schedule_id)
    try:
        current = (await handle.describe()).schedule
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        try:
            await create_schedule(client, kept.schedule_id, wanted)
        except ScheduleExists:  # another worker serving the flow made it meanwhile
            return "made by another worker"
        return "created"
    if await _same(client, current, wanted, spec):
        return "unchanged"

    def replaced(update: ScheduleUpdateInput) -> ScheduleUpdate:
        wanted.state = update.description.schedule.state
        return ScheduleUpdate(schedule=wanted)

    await handle.update(replaced)
    return "updated"


async def _same(client: Client, current: Schedule, wanted: Schedule, spec: FlowSpec) -> bool:
    now, then = current.action, wanted.action
    if not isinstance(now, ScheduleActionStartWorkflow):
        return False
    assert isinstance(then, ScheduleActionStartWorkflow)
    if (now.workflow, now.task_queue) != (then.workflow, then.task_queue):
        return False
    try:
        decode = client.data_converter.decode
        memo = now.memo or {}
        cron = (await decode([memo[CRON_MEMO]], [str]))[0] if CRON_MEMO in memo else None
        args = await decode(list(now.args), [spec.input])
    except Exception:  # written by another version, an input the model no longer reads
        return False
    return bool(cron == (then.memo or {}).get(CRON_MEMO) and args == list(then.args))


def schedule_row(entry: ScheduleListDescription, flows: tuple[FlowSpec, ...]) -> dict[str, Any]:
    """One schedule as `mailroom schedule list` shows it."""
    row: dict[str, Any] = {"name": entry.id, "flow": "", "when": "", "paused": False}
    listed = entry.schedule
    if listed is not None:
        workflow = getattr(listed.action, "workflow", "")
        row["flow"] = next((f.name for f in flows if _workflow_type(f.workflow) == workflow), "")
        row["when"] = describe_spec(listed.spec)
        row["paused"] = listed.state.paused
    info = entry.info
    nexts = list(info.next_action_times) if info else []
    recent = list(info.recent_actions) if info else []
    row["next_run"] = _iso(nexts[0]) if nexts and not row["paused"] else None
    row["last_run"] = _iso(recent[-1].scheduled_at) if recent else None
    return row


def describe_spec(spec: ScheduleSpec) -> str:
    """`every 2s`, or a cron-like `cron 0 7 * * *` (the server keeps a cron as calendars)."""
    parts = [f"cron {c}" for c in spec.cron_expressions]
    parts += [f"cron {_calendar(c)}" for c in spec.calendars]
    parts += [f"every {_seconds(i.every)}" for i in spec.intervals]
    return ", ".join(parts) or "-"


def _calendar(calendar: ScheduleCalendarSpec) -> str:
    fields = []
    for name in CALENDAR_FIELDS:
        ranges = getattr(calendar, name)
        low, high = FULL_RANGES[name]
        if all(r.start == low and r.end == high and r.step == 1 for r in ranges):
            fields.append("*")
            continue
        fields.append(",".join(_range(r.start, max(r.end, r.start), r.step) for r in ranges))
    return " ".join(fields)


def _range(start: int, end: int, step: int) -> str:
    text = str(start) if start == end else f"{start}-{end}"
    return f"{text}/{step}" if step > 1 else text


def _seconds(every: timedelta) -> str:
    """`1d`, `2h`, `15m`, `30s`: as `--every` takes it, in the largest whole unit."""
    seconds = every.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")
