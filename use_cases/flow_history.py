"""A thread's stage history from a child flow's counted reports (pure: the thread applies
each report it hears, and a thread's reader adds the stages the child has not reported)."""

from __future__ import annotations

from use_cases.models import FlowMode, FlowProgress, StageChange, ThreadState


def with_counted_stages(
    history: list[StageChange], applied: int, progress: FlowProgress
) -> list[StageChange]:
    """`history` (whose last `applied`th stage of this flow is the last one it has, by the
    child's count) with the stages of a counted report (its `seq`th stage last): the stages
    the report also carries are replaced by the report's record of them. They differ when
    the workflow task that reported them was lost (its worker killed before it completed:
    the report's local activity signals at once) and ran again on another worker, passing
    the same stages at other times; looked up by equality, the thread found none of them
    and recorded the flow's every stage again."""
    before = progress.seq - len(progress.history)  # the stages the report leaves out
    overlap = min(max(applied - before, 0), len(history))
    return [*history[: len(history) - overlap], *progress.history]


def may_lag(state: ThreadState) -> bool:
    """A running child flow that has reported: stages since its last report may be left
    out (a rest repeating the last one is not reported, workflows/flow_workflow.py)."""
    running_child = state.flow_mode == FlowMode.CHILD.value and not state.flow_finished
    return running_child and bool(state.flow_workflow_id) and state.flow_report_seq > 0


def with_unreported_stages(state: ThreadState, progress: FlowProgress, kept: int) -> ThreadState:
    """`state` as its running child flow shows it now (`progress`, its progress query): the
    stages since its last report, counted as its reports are, and its stage, facts and
    pending approval with them (the query can see past a report still on its way to the
    thread: the child's history beside the thread's older stage or facts contradicted
    itself); the last `kept` stages are kept, as the thread keeps them."""
    if not may_lag(state) or progress.seq <= state.flow_report_seq or not progress.history:
        return state
    history = with_counted_stages(state.history, state.flow_report_seq, progress)
    newer = {"stage": progress.stage, "pending_approval": progress.pending_approval}
    return state.model_copy(
        update={"history": history[-kept:], **newer, "facts": progress.facts or state.facts}
    )
