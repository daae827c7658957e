"""Histories recorded by this release replay: a deploy never breaks a thread in flight.

History format 1 (docs/architecture.md, "Versioning"): the fixtures in histories/ were
recorded by tests/workflows/record_histories.py on the code of this release, which has no
`workflow.patched` forks. A change that alters what a run records must replay them
unchanged, behind a patch id (workflows/versions.py), until a release starts a new format
and records them again. Each is a support or procurement thread, its flow inline or as a
child workflow (`<flow>-<mode>-<thread|flow>`), plus the two runs of a support thread that
continued-as-new with its inline flow, a procurement thread whose queued mail reached
its child one signal each (before the patch QUEUED_MAIL_TO_CHILD), a procurement child
that reported a rest repeating its last one (before REPEATED_REST_UNREPORTED), and a
procurement thread and child whose mail went by signal command (before
MAIL_TO_CHILD_BY_ACTIVITY), and a support thread (and child) continuing as new without a
person erased from it (FORGET_PERSON); and, in history format 2 (whose runs record no
patch marker), a procurement thread and child and a child resting again where it rested;
and, in history format 3, a support thread whose route brought its inline flow's settings,
and the two runs of one that continued as new with its flow; and, in history format 4, a
support thread (and child) whose second mail went with the child's start, and one whose
follow-up came while it asked for its route and went with the start too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from orchestrator.workflow_runner import WORKFLOW_RUNNER
from tests.encryption import ACCEPTING_CONVERTER
from workflows.procurement import ProcurementWorkflow
from workflows.support import SupportWorkflow
from workflows.thread import ThreadWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
FLOWS = ("support", "procurement")
RECORDED = {
    *(f"{flow}-{mode}-thread" for flow in FLOWS for mode in ("child", "inline")),
    *(f"{flow}-child-flow" for flow in FLOWS),
    "support-inline-thread-continued-as-new",
    "support-inline-thread-after-continue-as-new",
    # recorded before QUEUED_MAIL_TO_CHILD (workflows/versions.py): its old path replays
    "procurement-child-thread-queued-mail",
    # recorded before REPEATED_REST_UNREPORTED: a child that reported a repeated rest
    "procurement-child-flow-repeated-rest",
    # recorded before MAIL_TO_CHILD_BY_ACTIVITY: a thread's mail to its child by signal
    # command, one mail and two queued ones, and the child that took them
    "procurement-child-thread-forwarded-mail",
    "procurement-child-flow-forwarded-mail",
    # a person erased from a shared thread (FORGET_PERSON): the runs before it continued
    # as new without them, the thread's and its child flow's (sealed, as recorded since)
    "support-child-thread-forgetting",
    "support-inline-thread-forgetting",
    "support-child-flow-forgetting",
    # history format 2 (workflows/versions.py): a purchase as a child flow, and a child
    # resting again where it rested, recorded by the same scenarios on code that starts
    # runs in format 2: every change of the format taken without a patch marker
    "procurement-child-thread-format-2",
    "procurement-child-flow-format-2",
    "procurement-child-flow-repeated-rest-format-2",
    # history format 3: a support thread opening its inline flow with the settings its
    # route brought (no flow_settings activity), and the two runs of one that continued as
    # new with it (the resumed flow asks for its settings again)
    "support-inline-thread-format-3",
    "support-inline-thread-continued-as-new-format-3",
    "support-inline-thread-after-continue-as-new-format-3",
    # history format 4: two mails there before a support thread runs, the second going
    # with its child flow's start (no forward), the thread's run and its child's
    "support-child-thread-burst-format-4",
    "support-child-flow-burst-format-4",
    # and a follow-up that came while the thread asked the agent for its route
    "support-child-thread-during-route-format-4",
}


def test_every_flow_and_mode_has_a_recorded_history() -> None:
    """Also what fails when histories/ is empty: the replay test below then has no case."""
    assert {p.stem for p in HISTORIES} == RECORDED


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_history_replays_with_the_current_code(path: Path) -> None:
    history = _load(path)
    replayer = Replayer(
        workflows=[ThreadWorkflow, ProcurementWorkflow, SupportWorkflow],
        # mailroom's sealing converter as MAILROOM_ACCEPT_PLAINTEXT_PAYLOADS makes it: these
        # plain payloads pass through its codec, and a history recorded on a dev server
        # sealed with the tests' key opens (tests/encryption.py)
        data_converter=ACCEPTING_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure}"


def _load(path: Path) -> WorkflowHistory:
    """Replayed under the workflow id it ran as where its payloads are sealed: a sealed
    payload is bound to its workflow (adapters/outbound/payload_codec.py)."""
    text = path.read_text()
    first = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    metadata = first["input"]["payloads"][0]["metadata"]
    bound_to = metadata.get("encryption-bound-to")
    workflow_id = base64.b64decode(bound_to).decode() if bound_to else path.stem
    return WorkflowHistory.from_json(workflow_id, text)
