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


def with_unreported_stages(state: ThreadState, progress: FlowProgress, kept: int) -> ThreadState:
    """`state` as its running child flow shows it now: a child does not report a rest that
    repeats its last one (workflows/flow_workflow.py), so the stages since come from the
    child itself (its progress query), counted as its reports are; the last `kept` stages
    are kept, as the thread keeps them."""
    running_child = state.flow_mode == FlowMode.CHILD.value and not state.flow_finished
    heard = state.flow_report_seq  # 0: no counted report yet (the first is always sent)
    if not running_child or not heard or progress.seq <= heard or not progress.history:
        return state
    history = with_counted_stages(state.history, heard, progress)
    return state.model_copy(update={"history": history[-kept:]})
