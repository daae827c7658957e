"""Turning tracing on leaves running threads replaying: the SDK's TracingInterceptor adds
headers to what a workflow schedules, never a command, and makes no span while replaying."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Replayer

from orchestrator.workflow_runner import WORKFLOW_INTERCEPTORS, WORKFLOW_RUNNER
from tests.encryption import ACCEPTING_CONVERTER
from tests.workflows.test_recorded_histories import HISTORIES, _load
from workflows.procurement import ProcurementWorkflow
from workflows.support import SupportWorkflow
from workflows.thread import ThreadWorkflow


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_history_recorded_without_tracing_replays_with_tracing_on(path: Path) -> None:
    replayer = Replayer(
        workflows=[ThreadWorkflow, ProcurementWorkflow, SupportWorkflow],
        # mailroom's converter, as the recorded-histories test has it: sealed histories open
        data_converter=ACCEPTING_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
        # as a worker made from a client with tracing on has them
        interceptors=[TracingInterceptor(), *WORKFLOW_INTERCEPTORS],
    )
    result = await replayer.replay_workflow(_load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure}"
