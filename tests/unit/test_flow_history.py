"""A thread shown with the stages its child flow did not report (a rest repeating the last
one reported): added from the child's own progress, counted as its reports are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from use_cases.flow_history import with_unreported_stages
from use_cases.models import FlowMode, FlowProgress, StageChange, ThreadState

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _stage(name: str, minute: int) -> StageChange:
    return StageChange(stage=name, at=START + timedelta(minutes=minute), note="budget")


ASKED = [_stage("extracting", 0), _stage("awaiting_info", 1)]
ASKED_AGAIN = [*ASKED, _stage("extracting", 5), _stage("awaiting_info", 6)]


def _thread(mode: FlowMode = FlowMode.CHILD, *, finished: bool = False) -> ThreadState:
    return ThreadState(
        thread_id="t",
        workflow_id="t",
        mailbox="procurement@mailroom.local",
        flow="procurement",
        stage="awaiting_info",
        flow_mode=mode.value,
        flow_workflow_id="t-procurement-1",
        flow_finished=finished,
        flow_report_seq=2,
        history=list(ASKED),
    )


def _child(history: list[StageChange]) -> FlowProgress:
    return FlowProgress(
        flow="procurement", stage="awaiting_info", history=history, seq=len(history)
    )


def test_a_rest_the_child_did_not_report_is_shown_after_the_stages_the_thread_heard() -> None:
    shown = with_unreported_stages(_thread(), _child(ASKED_AGAIN), kept=50)
    assert shown.history == ASKED_AGAIN


def test_a_child_with_nothing_unreported_leaves_the_thread_as_it_is() -> None:
    thread = _thread()
    assert with_unreported_stages(thread, _child(ASKED), kept=50) == thread


def test_only_the_last_stages_are_kept_as_the_thread_keeps_them() -> None:
    shown = with_unreported_stages(_thread(), _child(ASKED_AGAIN), kept=3)
    assert shown.history == ASKED_AGAIN[-3:]


def test_an_inline_or_finished_flow_is_shown_as_the_thread_has_it() -> None:
    for thread in (_thread(FlowMode.INLINE), _thread(finished=True)):
        assert with_unreported_stages(thread, _child(ASKED_AGAIN), kept=50) == thread


def test_a_thread_shown_with_the_childs_newer_stages_shows_its_stage_and_facts_too() -> None:
    """The child's query can see past a report still on its way to the thread (fresh-clone
    runs: the child's last note beside the thread's older stage; stage `confirmed` without
    its PO number)."""
    moved_on = [*ASKED, _stage("extracting", 5), _stage("ordered", 6)]
    facts = {"po_number": "PO-2026-00001"}
    progress = FlowProgress(
        flow="procurement", stage="ordered", history=moved_on, seq=4, facts=facts
    )
    shown = with_unreported_stages(_thread(), progress, kept=50)
    assert (shown.stage, shown.history, shown.facts) == ("ordered", moved_on, facts)
