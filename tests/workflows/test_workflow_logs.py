"""The workflow logger's lines are JSON with the workflow's ids, at the configured level
(orchestrator.logs routes the stdlib's records through structlog's processors)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.logs import QUIET_BELOW_DEBUG, console_or_json, route_stdlib_records
from orchestrator.workflow_runner import WORKFLOW_RUNNER


@workflow.defn(name="LoggingWorkflow")
class LoggingWorkflow:
    @workflow.run
    async def run(self) -> None:
        workflow.logger.info("thread opened", extra={"flow": "support"})
        workflow.logger.info("no extras")


@pytest.fixture
def stdlib_lines_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], io.StringIO]]:
    """Routes this process's stdlib records as `mailroom` does, into a buffer; everything it
    changes (root handlers and level, the SDK adapters' flags) is put back after."""
    root, quiet = logging.getLogger(), [logging.getLogger(n) for n in QUIET_BELOW_DEBUG]
    handlers, level, quiet_levels = list(root.handlers), root.level, [q.level for q in quiet]
    monkeypatch.setattr(workflow.logger, "workflow_info_on_message", True)
    monkeypatch.setattr(activity.logger, "activity_info_on_message", True)
    monkeypatch.setattr(workflow.logger, "full_workflow_info_on_extra", False)

    def route(level: str) -> io.StringIO:
        buffer = io.StringIO()
        monkeypatch.setattr(sys, "stderr", buffer)
        route_stdlib_records(logging.getLevelName(level.upper()), console_or_json(False))
        return buffer

    yield route
    root.handlers[:] = handlers
    root.setLevel(level)
    for logger, was in zip(quiet, quiet_levels, strict=True):
        logger.setLevel(was)


async def run_logging_workflow(
    env: WorkflowEnvironment, task_queue: str, workflow_id: str | None = None
) -> str:
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[LoggingWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        await env.client.execute_workflow(
            # by name: the typed `LoggingWorkflow.run` (no argument) made a cold `mypy .`
            # infer ThreadWorkflow.run's handles elsewhere as Never (a mypy quirk)
            "LoggingWorkflow",
            id=workflow_id or f"thread-{task_queue}",
            task_queue=task_queue,
        )
    return workflow_id or f"thread-{task_queue}"


def events(buffer: io.StringIO) -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return {line["event"]: line for line in lines}


async def test_a_workflow_info_line_is_one_json_object_with_its_workflow_id(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    stdlib_lines_at: Callable[[str], io.StringIO],
) -> None:
    buffer = stdlib_lines_at("info")
    workflow_id = await run_logging_workflow(time_skipping_env, task_queue)
    line = events(buffer)["thread opened"]
    assert line["level"] == "info" and line["logger"] == "temporalio.workflow"
    assert line["workflow_id"] == workflow_id and line["run_id"]
    assert line["workflow_type"] == "LoggingWorkflow" and line["task_queue"] == task_queue
    assert line["flow"] == "support"


async def test_a_workflow_info_line_is_left_out_at_warning(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    stdlib_lines_at: Callable[[str], io.StringIO],
) -> None:
    buffer = stdlib_lines_at("warning")
    await run_logging_workflow(time_skipping_env, task_queue)
    assert "thread opened" not in events(buffer)


async def test_a_child_flows_line_names_its_thread_and_flow_without_being_told(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    stdlib_lines_at: Callable[[str], io.StringIO],
) -> None:
    """A log query by thread finds the lines of the thread's flows too."""
    buffer = stdlib_lines_at("info")
    thread_id = "thread-support@mailroom.local-0123456789abcdef"
    await run_logging_workflow(time_skipping_env, task_queue, f"{thread_id}-procurement-2")
    line = events(buffer)["no extras"]
    assert (line["thread_id"], line["flow"]) == (thread_id, "procurement")
    assert "workflow_info" not in line
    # what the call passes wins over what the id says
    assert events(buffer)["thread opened"]["flow"] == "support"
