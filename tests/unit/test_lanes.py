"""The coordinator's rules (use_cases/lanes.py), without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from use_cases import lanes
from use_cases.coordinator import (
    Deregister,
    ItemRef,
    ItemUpdate,
    Register,
    StartProcessing,
    StopProcessing,
    Verdict,
)
from use_cases.lanes import CoordinatorState

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def ask(item: str, lane: str = "budget:cc", **fields: object) -> StartProcessing:
    ref = ItemRef(item_id=item, kind="procurement", workflow_id=f"wf-{item}")
    return StartProcessing.model_validate({"item": ref, "lane": lane, **fields})


def verdict(state: CoordinatorState, message: StartProcessing, now: datetime = T0) -> Verdict:
    answer = lanes.start_processing(state, message, now).answer
    assert answer is not None
    return answer.verdict


def test_the_first_asker_gets_go_and_the_second_no_go_unless_it_waits() -> None:
    state = CoordinatorState()
    assert verdict(state, ask("a")) is Verdict.GO
    assert verdict(state, ask("b")) is Verdict.NO_GO
    queued = lanes.start_processing(state, ask("c", wait=True), T0).answer
    assert queued is not None and queued.verdict is Verdict.QUEUED and queued.position == 1


def test_asking_again_while_holding_renews_the_lease() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a", lease_seconds=60), T0)
    again = lanes.start_processing(state, ask("a", lease_seconds=60), T0 + timedelta(seconds=50))
    assert again.answer is not None and again.answer.verdict is Verdict.GO
    assert again.answer.lease_until == T0 + timedelta(seconds=110)


def test_a_resent_request_is_answered_the_same_and_counted_once() -> None:
    state = CoordinatorState()
    first = lanes.start_processing(state, ask("a", request_id="r1"), T0).answer
    lanes.start_processing(state, ask("b", wait=True), T0)
    again = lanes.start_processing(state, ask("a", request_id="r1"), T0).answer
    assert again == first
    assert state.signals_handled == 2


def test_stopping_gives_the_lane_to_the_next_in_line() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a"), T0)
    lanes.start_processing(state, ask("b", wait=True), T0)
    outcome = lanes.stop_processing(state, StopProcessing(item_id="a", lane="budget:cc"), T0)
    assert outcome.answer is not None and outcome.answer.verdict is Verdict.RELEASED
    assert [(o.workflow_id, o.instruction.verdict) for o in outcome.others] == [
        ("wf-b", Verdict.GO)
    ]
    assert state.lanes["budget:cc"].holders == ["b"]


def test_a_holder_whose_lease_lapses_loses_the_lane_and_the_next_goes() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a", lease_seconds=30), T0)
    lanes.start_processing(state, ask("b", wait=True, lease_seconds=300), T0)
    assert lanes.next_deadline(state) == T0 + timedelta(seconds=30)
    lanes.update(state, ItemUpdate(item_id="b"), T0 + timedelta(seconds=20))
    outcome = lanes.expire(state, T0 + timedelta(seconds=30))
    told = [(o.instruction.item_id, o.instruction.verdict) for o in outcome.others]
    assert told == [("a", Verdict.LOST), ("b", Verdict.GO)]
    assert "a" not in state.items


def test_an_update_renews_the_items_lease() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a", lease_seconds=30), T0)
    lanes.update(state, ItemUpdate(item_id="a", progress="checking"), T0 + timedelta(seconds=25))
    assert lanes.expire(state, T0 + timedelta(seconds=40)).others == []
    assert lanes.view(state).items["a"].progress == "checking"


def test_an_operator_release_tells_the_holder_lost_and_the_next_goes() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a"), T0)
    lanes.start_processing(state, ask("b", wait=True), T0)
    outcome = lanes.release(state, "a", T0)
    told = [(o.instruction.item_id, o.instruction.verdict) for o in outcome.others]
    assert told == [("a", Verdict.LOST), ("b", Verdict.GO)]


def test_deregistering_frees_lanes_and_queue_places() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a"), T0)
    lanes.start_processing(state, ask("b", wait=True), T0)
    lanes.start_processing(state, ask("c", wait=True), T0)
    lanes.deregister(state, Deregister(item_id="b"), T0)
    outcome = lanes.deregister(state, Deregister(item_id="a"), T0)
    assert [o.instruction.item_id for o in outcome.others] == ["c"]
    assert lanes.view(state).total_items == 1


def test_the_view_lists_items_lanes_and_counts() -> None:
    state = CoordinatorState()
    lanes.register(state, Register(item=ItemRef(item_id="d", kind="imap-daemon")), T0)
    lanes.start_processing(state, ask("a"), T0)
    lanes.start_processing(state, ask("b", wait=True), T0)
    shown = lanes.view(state)
    assert shown.total_items == 3 and shown.signals_handled == 3
    assert shown.items["a"].processing and shown.items["a"].lane == "budget:cc"
    assert shown.items["b"].queued_for == "budget:cc" and not shown.items["b"].processing
    assert shown.lanes[0].holders == ["a"] and shown.lanes[0].queue == ["b"]


def test_the_answers_kept_are_bounded() -> None:
    state = CoordinatorState()
    for n in range(lanes.ANSWERS_KEPT + 10):
        lanes.start_processing(state, ask(f"i{n}", lane=f"l{n}", request_id=f"r{n}"), T0)
    assert len(state.answered) == lanes.ANSWERS_KEPT
    assert "r0" not in state.answered


ITEMS = st.sampled_from(["a", "b", "c", "d", "e"])
STEPS = st.lists(
    st.tuples(st.sampled_from(["ask", "wait", "stop", "tick", "renew"]), ITEMS), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(steps=STEPS, capacity=st.integers(min_value=1, max_value=2))
def test_no_lane_is_ever_over_capacity_and_the_queue_is_served_in_order(
    steps: list[tuple[str, str]], capacity: int
) -> None:
    state = CoordinatorState()
    now = T0
    granted: list[str] = []  # the order in which queued items got go
    for action, item in steps:
        outcome = _step(state, action, item, capacity, now)
        granted += [o.instruction.item_id for o in outcome.others if _go(o.instruction.verdict)]
        now += timedelta(seconds=10)
        for each in state.lanes.values():
            assert len(each.holders) <= each.capacity
            assert not set(each.holders) & set(each.queue)
    # every one still waiting gets go, in line order, once the holders stop
    lane = state.lanes.get("l")
    line = list(lane.queue) if lane else []
    while lane is not None and lane.holders:
        stop = StopProcessing(item_id=lane.holders[0], lane="l")
        outcome = lanes.stop_processing(state, stop, now)
        granted += [o.instruction.item_id for o in outcome.others if _go(o.instruction.verdict)]
        lane = state.lanes.get("l")
    assert granted[len(granted) - len(line) :] == line


def _go(verdict: Verdict) -> bool:
    return verdict is Verdict.GO


def _step(
    state: CoordinatorState, action: str, item: str, capacity: int, now: datetime
) -> lanes.Outcome:
    if action in ("ask", "wait"):
        message = ask(item, lane="l", wait=action == "wait", capacity=capacity, lease_seconds=45)
        return lanes.start_processing(state, message, now)
    if action == "stop":
        return lanes.stop_processing(state, StopProcessing(item_id=item, lane="l"), now)
    if action == "renew":
        return lanes.update(state, ItemUpdate(item_id=item), now)
    return lanes.expire(state, now)
