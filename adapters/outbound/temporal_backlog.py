"""How long mail handed to Temporal waits before its thread workflow applies it.

Temporal accepts a signal-with-start 2 to 3 times faster than it dispatches the workflow
tasks that apply them (docs/architecture.md), so our own hand-off latency says nothing about the
backlog: under a burst, 250s keep coming while "applied in the thread" falls seconds behind.
So we sample it. Every thread we hand mail to stays *unconfirmed* until a probe finds no
workflow task pending for it; each probe describes a few of them in turn, oldest hand-off
first, and a thread whose task is still pending (scheduled, or held by a worker) is known to
be waiting since it was scheduled. The longest wait among threads known to be waiting, and
not yet seen applied, is the backlog's age: it keeps growing between probes, so a round that
happens to sample only applied threads does not clear it. Above `limit` the adapters defer
(SMTP 451 4.3.2, IMAP stops fetching, replay waits) until it falls below half the limit
(hysteresis: no flapping at the edge).

Describing threads rather than the task queue: a cached thread's tasks go to its worker's
sticky queue, which task-queue statistics do not count. A task on a retry (attempt > 1) is a
failing workflow, not a slow worker, and is ignored: one broken thread must not stop all mail.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

import structlog
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

log = structlog.get_logger()

# A round every 1/20 of the bound, within these: each describe costs the server ~0.8 ms
# of CPU (measured), and a 10 s bound needs no quarter-second resolution.
PROBES_PER_LIMIT = 20
SHORTEST_PROBE_INTERVAL = timedelta(milliseconds=250)
LONGEST_PROBE_INTERVAL = timedelta(seconds=1)
PROBED_PER_ROUND = 16
REMEMBERED_THREADS = 10_000
DESCRIBE_TIMEOUT = timedelta(seconds=2)

# Seconds a thread's pending work has waited for a worker; None once nothing is pending.
TaskAge = Callable[[str], Awaitable[float | None]]


def pending_task_age(client: Client) -> TaskAge:
    """The age of a thread's pending workflow task, from DescribeWorkflowExecution, whether
    still scheduled or already held by a worker: a task that runs local activities (the
    in-process agent, the outbox) stays started while the mail that arrived meanwhile waits
    behind it, and a saturated worker holds tasks it has not run yet. None when nothing is
    pending; 0.0 for a failing task being retried."""

    async def age(workflow_id: str) -> float | None:
        # The service's own answer: `WorkflowHandle.describe` would also decode the run's
        # search attributes, memo and metadata, which the age never reads (adapter CPU on
        # every probe).
        raw = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            ),
            retry=True,
            timeout=DESCRIBE_TIMEOUT,
        )
        if not raw.HasField("pending_workflow_task"):
            return None
        task = raw.pending_workflow_task
        if task.attempt > 1:
            return 0.0
        scheduled = task.original_scheduled_time.ToDatetime(tzinfo=UTC).timestamp()
        return max(0.0, time.time() - scheduled)

    return age


def probe_interval_for(limit: timedelta) -> timedelta:
    return min(max(limit / PROBES_PER_LIMIT, SHORTEST_PROBE_INTERVAL), LONGEST_PROBE_INTERVAL)


@dataclass
class Unconfirmed:
    """A thread handed mail that no probe has yet seen applied."""

    handoffs: int = 1
    # monotonic time its pending workflow task was scheduled, when a probe saw it waiting
    waiting_since: float | None = None


class HandoffBacklog:
    """The adapters' view of the accepted-but-not-applied backlog (see module doc)."""

    def __init__(
        self,
        task_age: TaskAge,
        *,
        limit: timedelta,
        probe_interval: timedelta | None = None,
        probed_per_round: int = PROBED_PER_ROUND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.task_age = task_age
        self.limit = limit.total_seconds()
        if probe_interval is None:
            probe_interval = probe_interval_for(limit)
        self.probe_interval = probe_interval.total_seconds()
        self.probed_per_round = probed_per_round
        self.clock = clock
        # In order of first hand-off; probed from the front, still-pending ones go to the back.
        self.unconfirmed: OrderedDict[str, Unconfirmed] = OrderedDict()
        self._clear = asyncio.Event()
        self._clear.set()

    def handed_off(self, workflow_id: str) -> None:
        known = self.unconfirmed.get(workflow_id)
        if known is not None:
            known.handoffs += 1
        elif len(self.unconfirmed) < REMEMBERED_THREADS:
            # Past the bound new threads go untracked: the oldest, tracked ones are the
            # ones that show a backlog first.
            self.unconfirmed[workflow_id] = Unconfirmed()

    @property
    def overloaded(self) -> bool:
        return not self._clear.is_set()

    async def wait_until_clear(self) -> None:
        await self._clear.wait()

    @property
    def age(self) -> float:
        """How long the longest-waiting thread seen waiting has waited, by now."""
        now = self.clock()
        waits = [
            now - u.waiting_since for u in self.unconfirmed.values() if u.waiting_since is not None
        ]
        return max(waits, default=0.0)

    @property
    def mails(self) -> int:
        """Mails handed to the threads not yet seen applied (threads past
        REMEMBERED_THREADS untracked)."""
        return sum(u.handoffs for u in self.unconfirmed.values())

    def _next_to_probe(self) -> list[tuple[str, Unconfirmed]]:
        """Half the round re-checks the longest-waiting threads (what the age rests on, and
        what must be seen applied for it to fall); the rest goes through the others in turn."""
        waiting = sorted(
            (u.waiting_since, w) for w, u in self.unconfirmed.items() if u.waiting_since is not None
        )
        chosen = [w for _, w in waiting[: self.probed_per_round // 2]]
        for workflow_id in self.unconfirmed:
            if len(chosen) >= self.probed_per_round:
                break
            if workflow_id not in chosen:
                chosen.append(workflow_id)
        return [(w, self.unconfirmed[w]) for w in chosen]

    async def probe(self) -> float:
        """Describe the next few unconfirmed threads; returns the backlog's age."""
        probed = [(w, u, u.handoffs) for w, u in self._next_to_probe()]
        ages = await asyncio.gather(
            *(self.task_age(w) for w, _, _ in probed), return_exceptions=True
        )
        now = self.clock()
        for (workflow_id, entry, handoffs), age in zip(probed, ages, strict=True):
            if isinstance(age, BaseException) and not isinstance(age, RPCError | TimeoutError):
                raise age
            if age is None:
                if entry.handoffs == handoffs:
                    del self.unconfirmed[workflow_id]  # applied, no mail since the probe began
                    continue
                entry.waiting_since = None  # applied; the newer mail's task is young
            elif isinstance(age, float):  # else unknown this round (RPC failed): keep it
                entry.waiting_since = now - age if age > 0 else None
            self.unconfirmed.move_to_end(workflow_id)
        age_now = self.age
        self._update(age_now)
        return age_now

    def _update(self, age: float) -> None:
        if not self.overloaded and age >= self.limit:
            self._clear.clear()
            log.warning("backlog_overloaded", backlog_seconds=round(age, 2), limit=self.limit)
        elif self.overloaded and age < self.limit / 2:
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
