"""A workflow item's answers from the coordinator when messages are resent or arrive out of
order: the item must never wait forever for a go it was already given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.test_lanes import ask
from use_cases import lanes
from use_cases.coordinator import Instruction, StopProcessing, Verdict
from use_cases.lanes import CoordinatorState
from workflows.lanes import LaneInstructions

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LATER = T0 + timedelta(seconds=5)


def test_a_request_resent_after_its_item_was_granted_the_lane_is_answered_go() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a"), T0)
    queued = lanes.start_processing(state, ask("b", wait=True, request_id="r-b"), T0).answer
    assert queued is not None and queued.verdict is Verdict.QUEUED
    lanes.stop_processing(state, StopProcessing(item_id="a", lane="budget:cc"), LATER)
    # the local activity that sent b's request is retried: a stale QUEUED would leave b
    # waiting for a go it already got, holding the lane for good
    again = lanes.start_processing(state, ask("b", wait=True, request_id="r-b"), LATER).answer
    assert again is not None and again.verdict is Verdict.GO
    assert state.signals_handled == 3


def test_a_request_resent_after_its_item_lost_the_lane_is_answered_lost() -> None:
    state = CoordinatorState()
    lanes.start_processing(state, ask("a", request_id="r-a"), T0)
    lanes.release(state, "a", LATER)
    again = lanes.start_processing(state, ask("a", request_id="r-a"), LATER).answer
    assert again is not None and again.verdict is Verdict.LOST


def test_a_queued_answer_arriving_after_the_go_does_not_hide_the_go() -> None:
    instructions = LaneInstructions()
    go = Instruction(item_id="b", lane="budget:cc", verdict=Verdict.GO)
    instructions.on_instruction(go)
    instructions.on_instruction(
        Instruction(item_id="b", lane="budget:cc", verdict=Verdict.QUEUED, position=1)
    )
    assert instructions.decided("b", "budget:cc") == go


def test_a_lost_lane_after_the_go_is_still_seen_as_lost() -> None:
    instructions = LaneInstructions()
    instructions.on_instruction(Instruction(item_id="b", lane="budget:cc", verdict=Verdict.GO))
    lost = Instruction(item_id="b", lane="budget:cc", verdict=Verdict.LOST)
    instructions.on_instruction(lost)
    assert instructions.decided("b", "budget:cc") == lost


def test_a_go_meant_for_an_earlier_request_is_not_taken_as_the_answer_to_a_new_one() -> None:
    """An item that lost its lane before go and asks again (procurement does, three times)
    must not take a late GO of its first request for a grant of its second: it would hold
    the lane beside the holder the coordinator chose."""
    state = CoordinatorState()
    lanes.start_processing(state, ask("other"), T0)
    lanes.start_processing(state, ask("a", wait=True, request_id="first"), T0)
    stop = StopProcessing(item_id="other", lane="budget:cc")
    (granted,) = lanes.stop_processing(state, stop, T0).others
    late_go = granted.instruction
    assert late_go.verdict is Verdict.GO
    instructions = LaneInstructions()
    instructions.expect("a", "budget:cc", "second")
    instructions.on_instruction(late_go)
    assert instructions.decided("a", "budget:cc") is None
