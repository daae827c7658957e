"""The coordinator's rules (issue 18), with no Temporal: who holds which lane, who waits, whose
lease lapsed. Each function takes the state, one message and `now`, updates the state and
returns what to answer the sender and what to tell the others (an `Outcome`). The workflow
(workflows/coordinator.py) only delivers; a test can drive the rules alone.

Every item has one lease, renewed by any message from it; an item whose lease lapses loses
its lanes and queue places and is forgotten, so a dead holder never keeps a lane for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from use_cases.coordinator import (
    CoordinatorView,
    Deregister,
    Instruction,
    ItemRef,
    ItemUpdate,
    ItemView,
    LaneView,
    Register,
    StartProcessing,
    StopProcessing,
    Verdict,
)
from use_cases.lane_state import (  # re-exported: callers import them from here
    ANSWERS_KEPT,
    CoordinatorInput,
    CoordinatorSignal,
    CoordinatorState,
    ItemRecord,
    Lane,
    Outcome,
    Outgoing,
    coordinator_id,
)

__all__ = [
    "ANSWERS_KEPT",
    "CoordinatorInput",
    "CoordinatorSignal",
    "CoordinatorState",
    "ItemRecord",
    "Lane",
    "Outcome",
    "Outgoing",
    "coordinator_id",
]


def _renew(state: CoordinatorState, ref: ItemRef, lease_seconds: float, now: datetime) -> None:
    record = state.items.get(ref.item_id)
    until = now + timedelta(seconds=lease_seconds)
    if record is None:
        state.items[ref.item_id] = ItemRecord(
            ref=ref, since=now, lease_seconds=lease_seconds, lease_until=until
        )
        return
    record.ref, record.lease_seconds, record.lease_until = ref, lease_seconds, until


def _instruction(
    state: CoordinatorState, item_id: str, lane: str, verdict: Verdict, **fields: object
) -> Instruction:
    record = state.items.get(item_id)
    until = record.lease_until if record and verdict is Verdict.GO else None
    return Instruction.model_validate(
        {"item_id": item_id, "lane": lane, "verdict": verdict, "lease_until": until, **fields}
    )


def _outgoing(state: CoordinatorState, instruction: Instruction) -> Outgoing:
    record = state.items.get(instruction.item_id)
    return Outgoing(instruction=instruction, workflow_id=record.ref.workflow_id if record else None)


def _fill(state: CoordinatorState, name: str, now: datetime) -> list[Outgoing]:
    """The next in line take the lane's free places; an empty lane is forgotten."""
    lane = state.lanes[name]
    granted = []
    while lane.queue and len(lane.holders) < lane.capacity:
        item_id = lane.queue.pop(0)
        lane.holders.append(item_id)
        state.items[item_id].since = now
        granted.append(_outgoing(state, _instruction(state, item_id, name, Verdict.GO)))
    if not lane.holders and not lane.queue:
        del state.lanes[name]
    return granted


def register(state: CoordinatorState, message: Register, now: datetime) -> Outcome:
    state.signals_handled += 1
    _renew(state, message.item, message.lease_seconds, now)
    return Outcome(answer=_instruction(state, message.item.item_id, "", Verdict.REGISTERED))


def start_processing(state: CoordinatorState, message: StartProcessing, now: datetime) -> Outcome:
    if message.request_id and message.request_id in state.answered:
        return Outcome(answer=state.answered[message.request_id])
    state.signals_handled += 1
    _renew(state, message.item, message.lease_seconds, now)
    lane = state.lanes.setdefault(message.lane, Lane(capacity=message.capacity))
    answer = _place(state, lane, message, now)
    if message.request_id:
        state.answered[message.request_id] = answer
        while len(state.answered) > ANSWERS_KEPT:  # a dict keeps its order: oldest first
            del state.answered[next(iter(state.answered))]
    return Outcome(answer=answer)


def _place(
    state: CoordinatorState, lane: Lane, message: StartProcessing, now: datetime
) -> Instruction:
    item_id, name = message.item.item_id, message.lane
    if item_id in lane.holders:
        return _instruction(state, item_id, name, Verdict.GO)
    if item_id in lane.queue:
        return _instruction(state, item_id, name, Verdict.QUEUED, position=_position(lane, item_id))
    if len(lane.holders) < lane.capacity and not lane.queue:  # nobody is passed in the queue
        lane.holders.append(item_id)
        state.items[item_id].since = now
        return _instruction(state, item_id, name, Verdict.GO)
    if message.wait:
        lane.queue.append(item_id)
        state.items[item_id].since = now
        return _instruction(state, item_id, name, Verdict.QUEUED, position=len(lane.queue))
    held_by = ", ".join(lane.holders)
    return _instruction(state, item_id, name, Verdict.NO_GO, reason=f"held by {held_by}")


def _position(lane: Lane, item_id: str) -> int:
    return lane.queue.index(item_id) + 1


def update(state: CoordinatorState, message: ItemUpdate, now: datetime) -> Outcome:
    state.signals_handled += 1
    record = state.items.get(message.item_id)
    if record is not None:  # an item forgotten (lease lapsed) must ask again
        record.lease_until = now + timedelta(seconds=record.lease_seconds)
        record.progress = message.progress or record.progress
    return Outcome()


def stop_processing(state: CoordinatorState, message: StopProcessing, now: datetime) -> Outcome:
    state.signals_handled += 1
    item_id, name = message.item_id, message.lane
    record = state.items.get(item_id)
    if record is not None:
        record.lease_until = now + timedelta(seconds=record.lease_seconds)
    others: list[Outgoing] = []
    lane = state.lanes.get(name)
    if lane is not None and (item_id in lane.holders or item_id in lane.queue):
        _leave(lane, item_id)
        others = _fill(state, name, now)
    answer = _instruction(state, item_id, name, Verdict.RELEASED)
    if message.deregister:
        others += _forget(state, item_id, now, tell=None)
    return Outcome(answer=answer, others=others)


def _leave(lane: Lane, item_id: str) -> None:
    if item_id in lane.holders:
        lane.holders.remove(item_id)
    if item_id in lane.queue:
        lane.queue.remove(item_id)


def _forget(
    state: CoordinatorState, item_id: str, now: datetime, *, tell: str | None
) -> list[Outgoing]:
    """The item leaves every lane and line and is deregistered; with `tell`, it is told
    LOST (why: `tell`) for each lane it held or waited for."""
    sent: list[Outgoing] = []
    for name in [n for n, lane in state.lanes.items() if item_id in lane.holders + lane.queue]:
        if tell is not None:
            lost = _instruction(state, item_id, name, Verdict.LOST, reason=tell)
            sent.append(_outgoing(state, lost))
        _leave(state.lanes[name], item_id)
        sent += _fill(state, name, now)
    state.items.pop(item_id, None)
    return sent


def deregister(state: CoordinatorState, message: Deregister, now: datetime) -> Outcome:
    state.signals_handled += 1
    return Outcome(others=_forget(state, message.item_id, now, tell=None))


def release(state: CoordinatorState, item_id: str, now: datetime) -> Outcome:
    """An operator's release: the item is told LOST, forgotten, and the next in line go."""
    state.signals_handled += 1
    return Outcome(others=_forget(state, item_id, now, tell="released by an operator"))


def gone(state: CoordinatorState, item_id: str, now: datetime) -> Outcome:
    """The item's workflow cannot be signalled (closed): it is forgotten, nobody told."""
    return Outcome(others=_forget(state, item_id, now, tell=None))


def expire(state: CoordinatorState, now: datetime) -> Outcome:
    """Every item whose lease lapsed by `now` is forgotten and told LOST."""
    lapsed = [i for i, record in state.items.items() if record.lease_until <= now]
    others: list[Outgoing] = []
    for item_id in lapsed:
        others += _forget(state, item_id, now, tell="lease lapsed")
    return Outcome(others=others)


def next_deadline(state: CoordinatorState) -> datetime | None:
    return min((record.lease_until for record in state.items.values()), default=None)


def view(state: CoordinatorState) -> CoordinatorView:
    held: dict[str, str] = {}
    queued: dict[str, str] = {}
    for name, lane in state.lanes.items():
        for item_id in lane.holders:
            held.setdefault(item_id, name)
        for item_id in lane.queue:
            queued.setdefault(item_id, name)
    items = {
        item_id: ItemView(
            item_id=item_id,
            workflow_id=record.ref.workflow_id,
            kind=record.ref.kind,
            payload=record.ref.payload,
            registered=True,
            processing=item_id in held,
            lane=held.get(item_id),
            queued_for=queued.get(item_id),
            since=record.since,
            lease_until=record.lease_until,
            progress=record.progress,
        )
        for item_id, record in state.items.items()
    }
    lanes = [
        LaneView(lane=name, capacity=lane.capacity, holders=lane.holders, queue=lane.queue)
        for name, lane in state.lanes.items()
    ]
    return CoordinatorView(
        total_items=len(items),
        items=items,
        lanes=lanes,
        signals_handled=state.signals_handled,
        runs=state.runs,
    )
