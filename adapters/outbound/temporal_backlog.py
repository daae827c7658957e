"""How long mail handed to Temporal waits before its thread workflow applies it.

Temporal accepts a signal-with-start 2 to 3 times faster than it dispatches the workflow tasks that
apply them (ARCHITECTURE), so our own hand-off latency says nothing about the backlog: under
a burst, 250s keep coming while "applied in the thread" falls seconds behind. So we sample
it. Every thread we hand mail to stays *unconfirmed* until a probe finds no workflow task
pending for it; each probe describes a few of them in turn, and a thread whose task is
still scheduled (no worker has picked it up) has waited that long. The oldest such wait is the
backlog's age. Above `limit` the adapters defer (SMTP 451 4.3.2, IMAP stops fetching, replay
waits) until it falls below half the limit (hysteresis: no flapping at the edge).

Describing threads rather than the task queue: a cached thread's tasks go to its worker's
sticky queue, which task-queue statistics do not count. A task on a retry (attempt > 1) is a
failing workflow, not a slow worker, and is ignored: one broken thread must not stop all mail.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

import structlog
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import Client
from temporalio.service import RPCError

log = structlog.get_logger()

PROBE_INTERVAL = timedelta(milliseconds=250)
PROBED_PER_ROUND = 8
REMEMBERED_THREADS = 256
DESCRIBE_TIMEOUT = timedelta(seconds=2)

# Seconds a thread's pending work has waited for a worker; None once nothing is pending.
TaskAge = Callable[[str], Awaitable[float | None]]


def scheduled_task_age(client: Client) -> TaskAge:
    """The age of a thread's workflow task that is scheduled but not started, from
    DescribeWorkflowExecution; 0.0 while a worker runs it, None when none is pending."""

    async def age(workflow_id: str) -> float | None:
        description = await client.get_workflow_handle(workflow_id).describe(
            rpc_timeout=DESCRIBE_TIMEOUT
        )
        raw = description.raw_description
        if not raw.HasField("pending_workflow_task"):
            return None
        task = raw.pending_workflow_task
        if task.state != PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED:
            return 0.0
        if task.attempt > 1:
            return 0.0
        scheduled = task.original_scheduled_time.ToDatetime(tzinfo=UTC).timestamp()
        return max(0.0, time.time() - scheduled)

    return age


class HandoffBacklog:
    """The adapters' view of the accepted-but-not-applied backlog (see module doc)."""

    def __init__(
        self,
        task_age: TaskAge,
        *,
        limit: timedelta,
        probe_interval: timedelta = PROBE_INTERVAL,
        probed_per_round: int = PROBED_PER_ROUND,
    ) -> None:
        self.task_age = task_age
        self.limit = limit.total_seconds()
        self.probe_interval = probe_interval.total_seconds()
        self.probed_per_round = probed_per_round
        self.unconfirmed: OrderedDict[str, None] = OrderedDict()
        self.age = 0.0
        self.overloaded = False
        self._clear = asyncio.Event()
        self._clear.set()

    def handed_off(self, workflow_id: str) -> None:
        self.unconfirmed[workflow_id] = None
        if len(self.unconfirmed) > REMEMBERED_THREADS:
            self.unconfirmed.popitem(last=False)

    async def wait_until_clear(self) -> None:
        await self._clear.wait()

    async def probe(self) -> float:
        """Describe the next few unconfirmed threads; returns (and keeps) the backlog age."""
        probed = list(self.unconfirmed)[: self.probed_per_round]
        ages = await asyncio.gather(*(self.task_age(w) for w in probed), return_exceptions=True)
        oldest = 0.0
        for workflow_id, age in zip(probed, ages, strict=True):
            if isinstance(age, RPCError | TimeoutError):
                continue  # unknown this round; Temporal being down shows at the hand-off
            if isinstance(age, BaseException):
                raise age
            if age is None:
                self.unconfirmed.pop(workflow_id, None)
            elif workflow_id in self.unconfirmed:
                self.unconfirmed.move_to_end(workflow_id)  # round robin over the pending
                oldest = max(oldest, age)
        self.age = oldest
        self._update(oldest)
        return oldest

    def _update(self, age: float) -> None:
        if not self.overloaded and age >= self.limit:
            self.overloaded = True
            self._clear.clear()
            log.warning("backlog_overloaded", backlog_seconds=round(age, 2), limit=self.limit)
        elif self.overloaded and age < self.limit / 2:
            self.overloaded = False
            self._clear.set()
            log.info("backlog_cleared", backlog_seconds=round(age, 2))

    async def run(self) -> None:
        """Probe forever (a task of the adapter's process; cancelled on stop)."""
        while True:
            try:
                await self.probe()
            except Exception:
                log.exception("backlog_probe_failed")
            await asyncio.sleep(self.probe_interval)
