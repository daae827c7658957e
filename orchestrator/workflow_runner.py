"""How the worker runs workflow code: Temporal's sandbox, with our modules passed through,
and without keeping each cached run's first activation alive.

The SDK decodes each activation into one protobuf (upb) arena, and any object taken from a
message keeps its whole arena alive. A run keeps two such objects for its lifetime: the
`last_completion_result` of its start, and the headers of its workflow input. Each pins
the run's first activation: its arguments, the mail its first signal carried, and the
decoded copies of both. Measured: ~35 KB per cached thread (183 → 148 KB). The runner and
the interceptor below hand the SDK detached copies, so the arena goes once the first
activation is done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.api.common.v1 import Payload, Payloads
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import _Definition


def _detached_payload(payload: Payload) -> Payload:
    copy = Payload()
    copy.CopyFrom(payload)
    return copy


def _detached_headers(headers: Mapping[str, Payload]) -> dict[str, Payload]:
    return {name: _detached_payload(value) for name, value in headers.items()}


class DetachedStartRunner(WorkflowRunner):
    """Runs workflows with `inner`, giving each instance a copy of its start's
    `last_completion_result` instead of a view into the first activation."""

    def __init__(self, inner: WorkflowRunner) -> None:
        self.inner = inner

    def prepare_workflow(self, defn: _Definition) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        result = Payloads()
        result.CopyFrom(det.last_completion_result)
        return self.inner.create_instance(dataclasses.replace(det, last_completion_result=result))

    def set_worker_level_failure_exception_types(
        self, types: Sequence[type[BaseException]]
    ) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


class DetachedInputInterceptor(Interceptor):
    """Replaces the workflow input's headers (a view into the first activation, held by
    the run's top-level coroutine for the run's lifetime) with detached copies."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _DetachHeaders


class _DetachHeaders(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # The caller holds this same object for as long as the run lives.
        input.headers = _detached_headers(input.headers)
        return await super().execute_workflow(input)


# Our workflow modules are passed through the sandbox instead of re-imported for every
# workflow instance: measured, that halves the worker's memory per cached thread (~360 KB →
# ~175 KB) and cuts its CPU ~20 %, and every cache miss creates an instance. What the
# sandbox's runtime restrictions would catch there (clock, randomness, I/O) is checked
# statically instead: tests/unit/test_import_rules.py. Models are pure and deterministic.
WORKFLOW_RUNNER = DetachedStartRunner(
    SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows", "use_cases")
    )
)
WORKFLOW_INTERCEPTORS = (DetachedInputInterceptor(),)
