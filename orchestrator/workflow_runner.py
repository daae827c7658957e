"""How the worker runs workflow code: outside Temporal's sandbox (see WORKFLOW_RUNNER), and
without keeping each cached run's first activation alive.

The SDK decodes each activation into one protobuf (upb) arena, and any object taken from a
message keeps its whole arena alive. A run keeps two such objects for its lifetime: the
`last_completion_result` of its start, and the headers of its workflow input (and, when
set, its info's headers and memo and the previous run's failure). Each pins
the run's first activation: its arguments, the mail its first signal carried, and the
decoded copies of both. Measured: ~35 KB per cached thread (183 → 148 KB). The runner and
the interceptor below hand the SDK detached copies, so the arena goes once the first
activation is done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowRunner,
)
from temporalio.workflow import _Definition

from orchestrator.payload_visits import skip_idle_payload_passes

M = TypeVar("M", bound=Message)


def _detached(message: M) -> M:
    """A copy in its own arena: keeping it keeps nothing else alive."""
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _detached_headers(headers: Mapping[str, Payload]) -> dict[str, Payload]:
    return {name: _detached(value) for name, value in headers.items()}


class DetachedStartRunner(WorkflowRunner):
    """Runs workflows with `inner`, giving each instance copies of what it keeps from its
    start (`last_completion_result`, `last_failure`, the headers and memo in its info)
    instead of views into the first activation."""

    def __init__(self, inner: WorkflowRunner) -> None:
        self.inner = inner

    def prepare_workflow(self, defn: _Definition) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        result = _detached(det.last_completion_result)
        failure = _detached(det.last_failure) if det.last_failure is not None else None
        # Info's headers and memo hold payloads from the activation too (none today: no
        # interceptor sets headers and threads carry no memo; detached for when they do).
        info = dataclasses.replace(
            det.info,
            headers=_detached_headers(det.info.headers),
            raw_memo=_detached_headers(det.info.raw_memo),
        )
        detached = dataclasses.replace(
            det, last_completion_result=result, last_failure=failure, info=info
        )
        return self.inner.create_instance(detached)

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


# Production runs workflows unsandboxed. The sandbox's import-time isolation and most of its
# runtime restrictions (clock, randomness, I/O modules) never reached our code: it had to
# pass `workflows` and `use_cases` through (re-importing them for every instance doubled the
# memory per cached thread), and passed-through modules run unrestricted but for the
# builtins `open` and `input`. What was left was its cost on every activation, measured at
# 66 mails/s: worker CPU 36.0 → 29.0 s per 4 000 mails, p99 432 → 193 ms (new threads
# opening: p50 173 → 67 ms). The guard is in the tests instead: the workflow tests run the
# same workflows in the SDK's default sandbox, which re-imports and restricts them
# (tests/workflows/harness.py), and tests/unit/test_import_rules.py checks statically every
# module workflow code imports from `workflows` and `use_cases`.
WORKFLOW_RUNNER = DetachedStartRunner(UnsandboxedWorkflowRunner())
# Every worker takes its runner from here: with it, the SDK's payload passes over each
# activation and completion are skipped while the data converter has no codec and no
# external storage (orchestrator/payload_visits.py: they would change nothing).
skip_idle_payload_passes()
WORKFLOW_INTERCEPTORS = (DetachedInputInterceptor(),)
