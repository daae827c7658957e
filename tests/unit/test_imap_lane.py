"""Two IMAP daemons on one source: only the lane's holder polls (adapters/inbound/imap_lane.py),
against the coordinator's fake (tests/fakes.py). Leases are short (0.3 s: asked every 0.1 s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from structlog.testing import capture_logs
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from adapters.inbound.imap_lane import ImapLane, imap_claim
from adapters.inbound.imap_source import parse_source
from tests.fakes import FakeCoordinator
from tests.support import wait_for
from use_cases.coordinator import Instruction, StartProcessing

LEASE = 0.3
URL = "imap://support:secret@imap.example/INBOX?mailbox=support@mailroom.local&tls=off"


class Pollers:
    """Every daemon's poller, counting how many poll at once."""

    def __init__(self) -> None:
        self.now_polling = 0
        self.most_at_once = 0


class FakePoller:
    def __init__(self, pollers: Pollers) -> None:
        self.pollers = pollers
        self.status = "starting"
        self.polling = False
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        self.polling, self.status = True, "idle"
        self.pollers.now_polling += 1
        self.pollers.most_at_once = max(self.pollers.most_at_once, self.pollers.now_polling)
        try:
            await asyncio.Event().wait()
        finally:
            self.pollers.now_polling -= 1
            self.polling, self.status = False, "stopped"


def daemon(coordinator: FakeCoordinator, pollers: Pollers, pid: int) -> tuple[ImapLane, FakePoller]:
    claim = imap_claim(
        parse_source(URL),
        "imap://support:***@imap.example/INBOX",
        host="node",
        pid=pid,
        lease_seconds=LEASE,
    )
    poller = FakePoller(pollers)
    return ImapLane(poller, coordinator, claim), poller


@asynccontextmanager
async def running(lane: ImapLane) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(lane.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_daemon_told_go_polls_and_keeps_renewing_its_lease() -> None:
    coordinator, pollers = FakeCoordinator(), Pollers()
    lane, poller = daemon(coordinator, pollers, pid=1)
    with capture_logs() as logs:
        async with running(lane):
            await wait_for(lambda: poller.polling, timeout=5, what="the holder polling")
            await wait_for(lambda: len(coordinator.requests) >= 4, timeout=5, what="renewals")
            assert poller.polling and poller.runs == 1
    request = coordinator.requests[0]
    assert request.lane == "imap:support@imap.example:143/INBOX" and request.wait
    assert request.item.item_id == "imap:node:1:support@imap.example:143/INBOX"
    assert request.item.kind == "imap-daemon" and request.item.workflow_id is None
    assert "secret" not in str(request.item.payload)
    assert len({r.request_id for r in coordinator.requests}) == len(coordinator.requests)
    lane_events = [e["event"] for e in logs if e["event"].startswith("imap_lane")]
    assert lane_events[:1] == ["imap_lane_go"]


async def test_a_second_daemon_stands_by_and_takes_over_at_once_when_the_first_stops() -> None:
    coordinator, pollers = FakeCoordinator(), Pollers()
    first, first_poller = daemon(coordinator, pollers, pid=1)
    second, second_poller = daemon(coordinator, pollers, pid=2)
    with capture_logs() as logs:
        async with running(first) as first_task, running(second):
            await wait_for(lambda: first_poller.polling, timeout=5, what="the first polling")
            await wait_for(lambda: second_poller.status == "standby", timeout=5)
            assert not second_poller.polling
            first_task.cancel()
            await asyncio.gather(first_task, return_exceptions=True)
            stopped = time.monotonic()
            await wait_for(lambda: second_poller.polling, timeout=5, what="the takeover")
            assert time.monotonic() - stopped < LEASE  # let go: no lease to wait out
    let_go = coordinator.let_go_calls[0]
    assert (let_go.item_id, let_go.deregister) == (first.claim.item.item_id, True)
    assert pollers.most_at_once == 1
    standby = [e for e in logs if e["event"] == "imap_lane_standby"]
    assert standby and standby[0]["verdict"] == "queued" and standby[0]["position"] == 1
    assert "another mailroom imap polls this source" in standby[0]["reason"]


async def test_a_daemon_whose_lease_lapsed_stops_polling_and_the_standby_takes_over() -> None:
    # (an operator's release alike: the holder hears of it at its next renewal)
    coordinator, pollers = FakeCoordinator(), Pollers()
    first, first_poller = daemon(coordinator, pollers, pid=1)
    second, second_poller = daemon(coordinator, pollers, pid=2)
    with capture_logs() as logs:
        async with running(first), running(second):
            await wait_for(lambda: first_poller.polling, timeout=5, what="the first polling")
            coordinator.lapse(first.claim.item.item_id)
            await wait_for(lambda: second_poller.polling, timeout=5, what="the takeover")
            await wait_for(lambda: first_poller.status == "standby", timeout=5)
            assert not first_poller.polling
            assert first.takeovers == 1 and second.takeovers == 1
    lost = [e for e in logs if e["event"] == "imap_lane_lost"]
    assert lost and lost[0]["verdict"] == "lost"


async def test_a_holder_cut_off_from_the_coordinator_stops_polling_within_the_lease() -> None:
    coordinator, pollers = FakeCoordinator(), Pollers()
    lane, poller = daemon(coordinator, pollers, pid=1)
    with capture_logs() as logs:
        async with running(lane):
            await wait_for(lambda: poller.polling, timeout=5, what="the holder polling")
            coordinator.reachable = False
            cut = time.monotonic()
            await wait_for(lambda: not poller.polling, timeout=5, what="polling to stop")
            assert time.monotonic() - cut <= LEASE + 0.1
            assert poller.status == "standby"
            coordinator.reachable = True  # back: the lane is still ours, polling resumes
            await wait_for(lambda: poller.polling, timeout=5, what="polling again")
    assert any(e["event"] == "imap_lane_lost" for e in logs)
    assert poller.runs == 2


async def test_a_daemon_without_a_coordinator_waits_and_says_why() -> None:
    coordinator, pollers = FakeCoordinator(), Pollers()
    coordinator.reachable = False
    lane, poller = daemon(coordinator, pollers, pid=1)
    with capture_logs() as logs:
        async with running(lane):
            await wait_for(lambda: poller.status == "standby", timeout=5)
            await wait_for(lambda: lane.asks >= 3, timeout=5, what="asking again")
    assert poller.runs == 0
    assert coordinator.let_go_calls == []  # never registered: nothing let go
    standby = [e for e in logs if e["event"] == "imap_lane_standby"]
    assert len(standby) == 1 and "mailroom worker" in standby[0]["reason"]


class RefusingCoordinator(FakeCoordinator):
    """Raises a refusal while `refusing`, as the adapter does with one it does not ask
    again (or a busy refusal once its patience has run out)."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = True

    async def request_lane(self, request: StartProcessing) -> Instruction:
        if self.refusing:
            raise RuntimeError(REFUSAL)
        return await super().request_lane(request)


REFUSAL = "RESOURCE_EXHAUSTED: limit on number of concurrent in-flight updates"


async def test_a_daemon_refused_by_the_coordinator_says_why_keeps_asking_and_then_polls() -> None:
    coordinator, pollers = RefusingCoordinator(), Pollers()
    lane, poller = daemon(coordinator, pollers, pid=1)
    with capture_logs() as logs:
        async with running(lane) as task:
            await wait_for(lambda: lane.asks >= 3, timeout=5, what="asking again")
            assert poller.status == "standby" and not task.done()
            coordinator.refusing = False
            await wait_for(lambda: poller.polling, timeout=5, what="polling once answered")
    standby = [e for e in logs if e["event"] == "imap_lane_standby"]
    assert standby and REFUSAL in standby[0]["error"]


class CoordinatorNoWorkerServes(FakeCoordinator):
    """As Temporal answers a daemon when no worker runs the coordinator: the update waits,
    and temporalio turns its cancellation into an error."""

    def __init__(self) -> None:
        super().__init__()
        self.asking = False

    async def request_lane(self, request: StartProcessing) -> Instruction:
        self.requests.append(request)
        self.asking = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            raise WorkflowUpdateRPCTimeoutOrCancelledError() from exc
        finally:
            self.asking = False
        raise AssertionError("never answered")


async def test_a_daemon_waiting_for_a_coordinator_no_worker_serves_stops_when_told() -> None:
    coordinator, pollers = CoordinatorNoWorkerServes(), Pollers()
    lane, poller = daemon(coordinator, pollers, pid=1)
    task = asyncio.create_task(lane.run())
    try:
        await wait_for(lambda: len(coordinator.requests) >= 2, timeout=5, what="asking again")
        await wait_for(lambda: coordinator.asking, timeout=5, what="a request in flight")
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        assert task.done(), "the daemon kept waiting for the coordinator after being stopped"
        assert task.cancelled() and poller.runs == 0
    finally:
        task.cancel()
