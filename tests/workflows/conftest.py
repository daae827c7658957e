"""Flow-test fixtures: a thread harness per flow mode, on the time-skipping server or — for
tests whose timers must really fire — on the dev server with second-scale timers.

A test module provides `MAILBOX`, `flow_config(mode, hurried)` and optionally `SETTINGS`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import Harness, thread_harness
from use_cases.flows import FlowMode


@pytest.fixture(params=[FlowMode.CHILD, FlowMode.INLINE], ids=["child", "inline"])
def mode(request: pytest.FixtureRequest) -> FlowMode:
    return FlowMode(request.param)


async def _module_harness(
    request: pytest.FixtureRequest,
    env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    mode: FlowMode,
    hurried: bool,
) -> AsyncIterator[Harness]:
    module = request.module
    async with thread_harness(
        env,
        task_queue,
        tmp_path,
        mailbox=module.MAILBOX,
        flow_config=module.flow_config(mode, hurried),
        **getattr(module, "SETTINGS", {}),
    ) as h:
        yield h


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    mode: FlowMode,
) -> AsyncIterator[Harness]:
    async for h in _module_harness(
        request, time_skipping_env, task_queue, tmp_path, mode, hurried=False
    ):
        yield h


@pytest.fixture
async def hurried(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    mode: FlowMode,
) -> AsyncIterator[Harness]:
    """Timers of seconds, in real time. (Skipping time on the time-skipping server stalled
    here once other tests had run in the same process.)"""
    async for h in _module_harness(request, dev_server, task_queue, tmp_path, mode, hurried=True):
        yield h
