"""The coordinator as a daemon or a CLI sees it (use_cases.coordinator.Coordinator), and the
signal-with-start workflow items send by (CoordinatorSignals, behind the coordinator_signal
local activity).

A daemon asks by update-with-start: one round trip starts the coordinator if no run is open
(USE_EXISTING: the open run takes it otherwise) and returns the rules' answer, so a daemon
needs no signal inbox and no polling. Workflows cannot make updates; they send signals
(with start) and are answered by the COORDINATOR_INSTRUCTION signal.

A busy coordinator refuses an update for a moment rather than failing it: more than ten
updates in flight on one workflow (the server's history.maxInFlightUpdates), a workflow task
being retried (WorkflowNotReady), an update aborted as its run continues as new, a call the
server cuts off (CANCELLED). temporalio retries the first and the aborted update for about
10 s only, and a crowd of daemons outlasts that, so the call is asked again (same update
id, growing pauses) until it is answered; no new ask starts once `patience_seconds` have
passed (callers bound the whole call with their own timeout: the IMAP lane asks within a
third of its lease)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import structlog
from temporalio.api.errordetails.v1 import MultiOperationExecutionFailure, WorkflowNotReadyFailure
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from use_cases.coordinator import (
    COORDINATOR_QUEUE,
    COORDINATOR_WORKFLOW_ID,
    LET_GO,
    LIST_ITEMS,
    RELEASE,
    REQUEST_LANE,
    CoordinatorView,
    Instruction,
    StartProcessing,
    StopProcessing,
)
from use_cases.lanes import CoordinatorInput

COORDINATOR_WORKFLOW = "CoordinatorWorkflow"  # workflows/coordinator.py (adapters name it only)
PATIENCE_SECONDS = 60.0  # how long a refused update is asked again before the refusal is raised
FIRST_PAUSE_SECONDS = 0.05
LONGEST_PAUSE_SECONDS = 2.0

log = structlog.get_logger()


class TemporalCoordinator:
    def __init__(
        self,
        client: Client,
        queue: str = COORDINATOR_QUEUE,
        *,
        workflow_id: str = COORDINATOR_WORKFLOW_ID,
        start_input: CoordinatorInput | None = None,
        patience_seconds: float = PATIENCE_SECONDS,
    ) -> None:
        self.client = client
        self.queue = queue
        self.workflow_id = workflow_id
        self.start_input = start_input or CoordinatorInput()
        self.patience_seconds = patience_seconds

    def _start(self) -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(
            COORDINATOR_WORKFLOW,
            self.start_input,
            id=self.workflow_id,
            task_queue=self.queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    async def request_lane(self, request: StartProcessing) -> Instruction:
        return await self._update_with_start(REQUEST_LANE, request)

    async def let_go(self, stop: StopProcessing) -> Instruction:
        return await self._update_with_start(LET_GO, stop)

    async def _update_with_start(self, name: str, argument: Any) -> Instruction:
        # one id for every ask: a run that took the update before a refusal reached us
        # answers the next ask from what it recorded instead of applying it twice (within
        # one run; across a continue-as-new the request's request_id absorbs a repeat)
        update_id = str(uuid.uuid4())
        give_up_at = time.monotonic() + self.patience_seconds
        asked = 0
        while True:
            asked += 1
            try:
                return await self._update_once(name, argument, update_id)
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
                refusal = busy_refusal(exc)
                pause = _pause(asked)
                if refusal is None or time.monotonic() + pause > give_up_at:
                    raise
                # said once a request at info (a daemon's standby line shows only its
                # timeout), then at debug: a crowd of daemons is refused many times a second
                say = log.info if asked == 1 else log.debug
                say("coordinator_busy", update=name, asked=asked, refusal=refusal.message)
                await asyncio.sleep(pause)

    async def _update_once(self, name: str, argument: Any, update_id: str) -> Instruction:
        start = self._start()
        try:
            answer: Instruction = await self.client.execute_update_with_start_workflow(
                name,
                argument,
                id=update_id,
                start_workflow_operation=start,
                result_type=Instruction,
            )
        finally:
            _read_start_failure(start)
        return answer

    async def signal(self, name: str, message: dict[str, Any]) -> None:
        for attempt in range(3):
            try:
                await self.client.start_workflow(
                    COORDINATOR_WORKFLOW,
                    self.start_input,
                    id=self.workflow_id,
                    task_queue=self.queue,
                    start_signal=name,
                    start_signal_args=[message],
                )
                return
            except WorkflowAlreadyStartedError:
                # two first messages at once: the time-skipping test server can refuse the
                # one that lost the race to start, where a real server signals the run
                if attempt == 2:
                    raise

    async def view(self) -> CoordinatorView | None:
        """What the open run answers; None when none is open (never started, or idle
        long enough to complete)."""
        handle = self.client.get_workflow_handle(self.workflow_id)
        try:
            described = await handle.describe()
            if described.status != WorkflowExecutionStatus.RUNNING:
                return None
            shown: CoordinatorView = await handle.query(LIST_ITEMS, result_type=CoordinatorView)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return shown

    async def release(self, item_id: str) -> None:
        """An operator's release (no start: there is nothing to release without a run)."""
        await self.client.get_workflow_handle(self.workflow_id).signal(RELEASE, item_id)


def busy_refusal(exc: Exception) -> RPCError | None:
    """The refusal of a busy coordinator in `exc`, to be asked again; None for anything
    else. temporalio reports a call the server cut off (CANCELLED or DEADLINE_EXCEEDED: seen
    in CI while runs continued as new under ten updates in flight) as
    WorkflowUpdateRPCTimeoutOrCancelledError caused by that RPCError; caused by this task's
    own cancellation, it is no refusal."""
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        cause = exc.__cause__
        return cause if isinstance(cause, RPCError) else None
    if isinstance(exc, RPCError) and is_busy_refusal(exc):
        return exc
    return None


def is_busy_refusal(exc: RPCError) -> bool:
    """A refusal that passes once the coordinator's worker catches up (see the module's
    docstring); anything else (no such namespace, bad argument, ...) is raised at once."""
    if exc.status in (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE):
        return True
    if exc.status != RPCStatusCode.FAILED_PRECONDITION:
        return False
    details = list(exc.grpc_status.details)
    failure = MultiOperationExecutionFailure()
    if details and details[0].Unpack(failure):
        details = [detail for status in failure.statuses for detail in status.details]
    return any(detail.Is(WorkflowNotReadyFailure.DESCRIPTOR) for detail in details)


def _pause(asked: int) -> float:
    """Growing pauses with jitter, so a crowd of refused daemons does not ask in step."""
    ceiling = min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** (asked - 1))
    return random.uniform(ceiling / 2, ceiling)  # spreading, not secrecy


def _read_start_failure(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """temporalio also sets a failed call's error on the start operation's handle future,
    which nobody awaits: unread, asyncio logs a traceback for each (a daemon waiting for a
    coordinator no worker serves fails a call every few seconds)."""
    handle = start._workflow_handle  # no public way to read it without awaiting
    if handle.done() and not handle.cancelled():
        handle.exception()
