"""What the coordinator's query answers (issue 18): its state as items and lanes."""

from __future__ import annotations

from use_cases.coordinator import CoordinatorView, ItemView, LaneView
from use_cases.lane_state import CoordinatorState


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
