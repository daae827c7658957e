"""Histories recorded by earlier code still replay: a deploy never breaks a thread in flight.

The fixtures were recorded at commit 7a5c958, before the code behind the
`fewer-events-per-mail` patch (workflows/versions.py: shared SLA timer, upserts and flow
progress once settled, replies to the outbox by local activity): a support and a
procurement thread, inline and as child flows, each through stages, replies, an approval
or the SLA timers to the end, with search attributes on. Child flows were recorded again
at later points, each a support child answered, asked again and solved, and a procurement
child approved and ordered: `*-fewer-events` at 6a0c5d4 (that patch, reports by signal
command: the runs in flight when the next change deploys), `*-reports-by-activity` at
821bd37 (reports by local activity, not yet counted) and `*-reports-counted` after
reports carried their `seq`. `procurement-inline-thread-second-flow-asked` was recorded at
caa0912: a second flow in the same run (its first flow had ordered) asked the
requester again, before the `later-flow-follows-up` patch made it a follow-up.
`thread-inherited-finished-flow-stayed-open` was recorded at 436fd56: a run that inherited a
finished flow through continue-as-new stayed open, took new mail into a second flow and was
completed by COMPLETE_THREAD, before `inherited-finished-flow-completes` (without the patch
guard it fails to replay: checked). `procurement-*-emailed-approval` (child thread and flow,
inline thread) were recorded at 5af047f with two approvers: one approval request to both,
a non-approver's "approve" ignored, then an approver's emailed "approve" (by `From:` alone)
ordering; without either `signed-decisions` patch guard they fail to replay (checked).
`procurement-*-signed-decisions` were recorded with both patches: a request per approver,
a decision with a forged `From:` refused and its approver told, then the signed one ordering.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orchestrator.workflow_runner import WORKFLOW_RUNNER
from workflows.procurement import ProcurementWorkflow
from workflows.support import SupportWorkflow
from workflows.thread import ThreadWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_recorded_histories_of_every_flow_and_mode() -> None:
    names = {p.stem for p in HISTORIES}
    for flow in ("support", "procurement"):
        assert {f"{flow}-inline-thread", f"{flow}-child-thread", f"{flow}-child-flow"} <= names
        for recorded in ("fewer-events", "reports-by-activity", "reports-counted"):
            assert {f"{flow}-child-thread-{recorded}", f"{flow}-child-flow-{recorded}"} <= names
    assert "procurement-inline-thread-second-flow-asked" in names
    assert "thread-inherited-finished-flow-stayed-open" in names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_history_replays_with_the_current_code(path: Path) -> None:
    history = _load(path)
    replayer = Replayer(
        workflows=[ThreadWorkflow, ProcurementWorkflow, SupportWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure}"


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())
