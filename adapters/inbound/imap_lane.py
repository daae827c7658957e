"""An IMAP source polls only while its daemon holds the coordinator's lane `imap:<source key>`.

Two `mailroom imap` daemons on one mailbox (for availability) never both poll it: each asks
the coordinator (use_cases/coordinator.py) for the source's lane, waiting in line (FIFO); the
one told GO polls, the others stand by and ask again every lease/3 — asking again is how a
queued daemon learns it got GO, and how the holder renews its lease. The holder stops polling
at once when told LOST (its lease lapsed, an operator released it) or when it has not reached
the coordinator for a whole lease (the coordinator may have given the lane away by then), and
stands by again. Cutting a session anywhere is safe: fetch → hand-off → acknowledge →
checkpoint, and the threads' Message-ID dedup, make the next holder re-deliver at most one
batch. A clean stop lets the lane go (and deregisters), so a standby takes over at its next
ask instead of after the lease; a killed daemon's lease lapses.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

import structlog

from adapters.inbound.imap_source import ImapSource
from use_cases.coordinator import (
    Coordinator,
    Instruction,
    ItemRef,
    StartProcessing,
    StopProcessing,
    Verdict,
)

log = structlog.get_logger()

ITEM_KIND = "imap-daemon"
DEFAULT_LEASE_SECONDS = 30.0
LET_GO_TIMEOUT_SECONDS = 5.0
WAITING_FOR_COORDINATOR = (
    "no answer from the coordinator: it runs in `mailroom worker` (start one on the same "
    "Temporal namespace and queue prefix) or set MAILROOM_IMAP_EXCLUSIVE=false"
)

QUEUED = (
    "standing by: another mailroom imap polls this source (`mailroom coordinator` shows "
    "which); this one takes over at its next ask (every third of MAILROOM_IMAP_LEASE_SECONDS) "
    "after that one stops, or once its lease lapses when it dies"
)


class Poller(Protocol):
    """What the lane runs while held: ImapInbound (run until cancelled; status shown)."""

    status: str

    async def run(self) -> None: ...


@dataclass(frozen=True)
class LaneClaim:
    item: ItemRef
    lane: str
    lease_seconds: float


def imap_claim(
    source: ImapSource, described: str, *, host: str, pid: int, lease_seconds: float
) -> LaneClaim:
    """This daemon's claim on a source: the item is this process and source, the lane the
    source; `described` names the source without its secrets (masked_url)."""
    payload = {"host": host, "pid": str(pid), "source": described}
    item = ItemRef(item_id=f"imap:{host}:{pid}:{source.key}", kind=ITEM_KIND, payload=payload)
    return LaneClaim(item=item, lane=f"imap:{source.key}", lease_seconds=lease_seconds)


class ImapLane:
    """Runs `poller` only while this daemon holds `claim.lane`; run() until cancelled."""

    def __init__(self, poller: Poller, coordinator: Coordinator, claim: LaneClaim) -> None:
        self.poller = poller
        self.coordinator = coordinator
        self.claim = claim
        self.interval = claim.lease_seconds / 3
        self.polling = False
        self.takeovers = 0  # how many times this daemon was told GO
        self.asks = 0  # requests sent, answered or not
        # request ids never repeat, not even for a restarted daemon with the same host and
        # PID (PID 1 in a container): the coordinator answers a repeated id from its memory
        self._run_token = uuid.uuid4().hex[:12]
        self._answered = False  # the coordinator knows this item: let it go on stopping
        self._held_until = 0.0  # monotonic: the lease may lapse from here unless renewed
        self._last_standby: tuple[str, int] | None = None
        # why the last ask got no answer (no worker, Temporal down: a timeout; a refusal the
        # adapter does not ask again), said in the standby warning; the coordinator being
        # busy is asked again by the adapter (its `coordinator_busy` line) until our timeout
        self._unanswered = ""
        self._log = log.bind(lane=claim.lane, item_id=claim.item.item_id)

    async def run(self) -> None:
        try:
            while True:
                await self._until_go()
                if not await self._poll_while_held():
                    return
        finally:
            await self._let_go()

    async def _until_go(self) -> None:
        """Stand by, asking every lease/3, until told GO."""
        while True:
            sent = time.monotonic()
            answer = await self._ask(self.interval)
            if answer is not None and answer.verdict is Verdict.GO:
                self._held_until = sent + self.claim.lease_seconds
                self._last_standby = None
                self.takeovers += 1
                self._log.info("imap_lane_go", lease_until=_iso(answer))
                return
            self._standby(answer)
            await asyncio.sleep(max(0.0, sent + self.interval - time.monotonic()))

    def _standby(self, answer: Instruction | None) -> None:
        self.poller.status = "standby"
        seen = ("unreachable", 0) if answer is None else (answer.verdict.value, answer.position)
        if seen == self._last_standby:
            return
        self._last_standby = seen
        if answer is None:
            self._log.warning(
                "imap_lane_standby", reason=WAITING_FOR_COORDINATOR, error=self._unanswered
            )
        else:
            reason = answer.reason or (QUEUED if answer.verdict is Verdict.QUEUED else "")
            self._log.info("imap_lane_standby", verdict=seen[0], position=seen[1], reason=reason)

    async def _poll_while_held(self) -> bool:
        """Poll until the lane is lost (True) or the poller ends by itself (False)."""
        self.polling = True
        task = asyncio.create_task(self.poller.run(), name=f"imap poller {self.claim.lane}")
        try:
            return await self._renew_until_lost(task)
        finally:
            self.polling = False
            task.cancel()
            await asyncio.wait({task})  # the cut is clean before anyone else may poll
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                raise failure

    async def _renew_until_lost(self, task: asyncio.Task[None]) -> bool:
        while True:
            await asyncio.wait({task}, timeout=self._until_next_ask())
            if task.done():
                return False
            left = self._held_until - time.monotonic()
            if left <= 0:
                self._log.warning(
                    "imap_lane_lost", reason=WAITING_FOR_COORDINATOR, error=self._unanswered
                )
                return True
            sent = time.monotonic()
            answer = await self._ask(min(self.interval, left))
            if answer is None:
                continue
            if answer.verdict is not Verdict.GO:
                self._log.warning(
                    "imap_lane_lost", verdict=answer.verdict.value, reason=answer.reason
                )
                return True
            self._held_until = sent + self.claim.lease_seconds

    def _until_next_ask(self) -> float:
        """lease/3, or less when a renewal failed: to stop by the time the lease may lapse."""
        return max(0.0, min(self.interval, self._held_until - time.monotonic()))

    async def _ask(self, timeout: float) -> Instruction | None:
        """Ask for the lane (renewing it when held); None when the coordinator did not
        answer within `timeout`."""
        self.asks += 1
        request = StartProcessing(
            item=self.claim.item,
            lane=self.claim.lane,
            wait=True,
            lease_seconds=self.claim.lease_seconds,
            request_id=f"{self.claim.item.item_id}:{self._run_token}:{self.asks}",
        )
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that comes as the call completes, and the daemon would not stop
            async with asyncio.timeout(timeout):
                answer = await self.coordinator.request_lane(request)
        except Exception as exc:  # unreachable, no worker, refused, timed out: ask again later
            if _being_cancelled():
                # temporalio turns a cancelled update call into an error: a daemon stopped
                # while it waited for a coordinator no worker serves would never stop
                raise asyncio.CancelledError from exc
            self._unanswered = f"{type(exc).__name__}: {exc}"
            self._log.debug("imap_lane_unanswered", error=self._unanswered)
            return None
        self._answered = True
        return answer

    async def _let_go(self) -> None:
        """Let the lane go and deregister, so a standby takes over at its next ask."""
        if not self._answered:
            return  # never registered: nothing to let go, and no coordinator to start
        item_id, lane = self.claim.item.item_id, self.claim.lane
        stop = StopProcessing(item_id=item_id, lane=lane, deregister=True)
        try:
            async with asyncio.timeout(LET_GO_TIMEOUT_SECONDS):
                await self.coordinator.let_go(stop)
        except Exception as exc:
            self._log.warning(
                "imap_lane_let_go_failed", error=f"{type(exc).__name__}: {exc}"
            )  # the lease lapses instead
            return
        self._log.info("imap_lane_released")


def _being_cancelled() -> bool:
    """Whether someone cancelled this task (asyncio.timeout has taken its own cancel back)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _iso(answer: Instruction) -> str | None:
    return None if answer.lease_until is None else answer.lease_until.isoformat()
