"""WorkflowSignals on Temporal: a signal with the caller's request id, which the server
applies once per run (the SDK's `WorkflowHandle.signal` always makes a random one)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

SIGNAL_TIMEOUT = timedelta(seconds=5)


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
                request, retry=True, timeout=self.timeout
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # no such run, or it has completed
                return False
            raise
        return True
