"""WorkflowSignals on Temporal: a signal with the caller's request id, which the server
applies once per run (the SDK's `WorkflowHandle.signal` always makes a random one).

The request is built here, so it passes no client interceptor and the payload is encoded
without the SDK's serialization context: the same bytes as `WorkflowHandle.signal` with
our plain pydantic converter. Add a codec or a tracing interceptor, and revisit this."""

from __future__ import annotations

from datetime import timedelta

import structlog
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger()

SIGNAL_TIMEOUT = timedelta(seconds=5)
# Answers that no retry changes: not delivered, said once in the log. Anything else (the
# server away, overloaded, a timeout) raises, and the caller's retry policy tries again.
NOT_RUNNING = RPCStatusCode.NOT_FOUND  # no such workflow, or its run has closed
REFUSED = (
    RPCStatusCode.INVALID_ARGUMENT,  # e.g. over the payload or signal-count limits
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.PERMISSION_DENIED,
)


class TemporalWorkflowSignals:
    def __init__(self, client: Client, *, timeout: timedelta = SIGNAL_TIMEOUT) -> None:
        self.client = client
        self.timeout = timeout

    async def signal(self, workflow_id: str, name: str, arg: BaseModel, *, request_id: str) -> bool:
        payloads = await self.client.data_converter.encode([arg])
        request = SignalWorkflowExecutionRequest(
            namespace=self.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name=name,
            input=Payloads(payloads=payloads),
            identity=self.client.identity,
            request_id=request_id,
        )
        try:
            await self.client.workflow_service.signal_workflow_execution(
                request, retry=False, timeout=self.timeout
            )
        except RPCError as exc:
            if exc.status == NOT_RUNNING:
                return False
            if exc.status in REFUSED:
                log.warning(
                    "signal_refused", workflow_id=workflow_id, signal=name, error=exc.message
                )
                return False
            raise
        return True
