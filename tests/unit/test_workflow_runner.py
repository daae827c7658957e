"""The worker's runner and interceptor hand each run detached copies of what the SDK would
otherwise keep as views into the run's first activation (pinning all of it in memory)."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import InitializeWorkflow, WorkflowActivation
from temporalio.worker import (
    ExecuteWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.workflow import Info, _Definition

from orchestrator.workflow_runner import DetachedStartRunner, _DetachHeaders


def first_activation() -> WorkflowActivation:
    activation = WorkflowActivation(run_id="run-1")
    start = activation.jobs.add().initialize_workflow
    start.last_completion_result.payloads.add(data=b'"previous run"')
    start.headers["trace"].CopyFrom(Payload(data=b'"abc"'))
    start.memo.fields["team"].CopyFrom(Payload(data=b'"sales"'))
    activation.jobs.add().signal_workflow.input.add(data=b'{"mail": "a large body"}')
    return activation


class RecordingRunner(WorkflowRunner):
    def __init__(self) -> None:
        self.created: list[WorkflowInstanceDetails] = []

    def prepare_workflow(self, defn: _Definition) -> None:
        pass

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        self.created.append(det)
        return cast(WorkflowInstance, None)


def info_of(start: InitializeWorkflow) -> Info:
    """An Info as the SDK builds it: its headers and memo hold the activation's payloads."""
    unused: dict[str, Any] = {field.name: None for field in dataclasses.fields(Info)}
    return Info(**{**unused, "headers": dict(start.headers), "raw_memo": dict(start.memo.fields)})


def details(activation: WorkflowActivation) -> WorkflowInstanceDetails:
    unused: Any = None
    start = activation.jobs[0].initialize_workflow
    return WorkflowInstanceDetails(
        payload_converter_factory=unused,
        failure_converter_class=unused,
        interceptor_classes=[],
        defn=unused,
        info=info_of(start),
        randomness_seed=7,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=start.last_completion_result,
        last_failure=None,
    )


def test_each_instance_gets_its_own_copy_of_the_previous_runs_result() -> None:
    activation = first_activation()
    inner = RecordingRunner()
    DetachedStartRunner(inner).create_instance(details(activation))
    given = inner.created[0]
    assert given.last_completion_result.payloads[0].data == b'"previous run"'
    assert given.randomness_seed == 7, "everything else is passed as it was"
    start = activation.jobs[0].initialize_workflow
    start.last_completion_result.payloads[0].data = b"reused"
    start.headers["trace"].data = b"reused"
    start.memo.fields["team"].data = b"reused"
    assert given.last_completion_result.payloads[0].data == b'"previous run"', (
        "still a view into the activation"
    )
    assert given.info.headers["trace"].data == b'"abc"'
    assert given.info.raw_memo["team"].data == b'"sales"'


class RecordingInbound(WorkflowInboundInterceptor):
    def __init__(self) -> None:
        super().__init__(cast(WorkflowInboundInterceptor, None))
        self.inputs: list[ExecuteWorkflowInput] = []

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.inputs.append(input)
        return "ran"


async def test_the_workflow_input_keeps_copies_of_its_headers_not_views() -> None:
    activation = first_activation()
    headers = activation.jobs[0].initialize_workflow.headers
    input = ExecuteWorkflowInput(type=object, run_fn=cast(Any, None), args=[], headers=headers)
    inner = RecordingInbound()
    assert await _DetachHeaders(inner).execute_workflow(input) == "ran"
    seen = inner.inputs[0]
    assert seen is input, "the SDK holds this very object for the run's lifetime"
    assert isinstance(seen.headers, dict)
    assert seen.headers["trace"].data == b'"abc"'
    headers["trace"].data = b"reused"
    assert seen.headers["trace"].data == b'"abc"', "still a view into the activation"
