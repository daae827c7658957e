"""A lane of the coordinator, held by a workflow (issue 18): ask, wait for go, renew the lease
while holding, let go (and deregister) on the way out.

The calling workflow feeds the coordinator's instructions to a `LaneInstructions`, from its
own COORDINATOR_INSTRUCTION signal handler:

    self.lanes = LaneInstructions()

    @workflow.signal(name=COORDINATOR_INSTRUCTION)
    def coordinator_instruction(self, instruction: Instruction) -> None:
        self.lanes.on_instruction(instruction)

    async with held_lane("budget:cc-42", ItemRef(item_id=...), self.lanes) as held:
        ...  # alone on the lane (held.lost says whether the coordinator took it back)

Messages go by the `coordinator_signal` local activity (signal-with-start). The lease is
renewed every third of it, waiting in line too (a queued item whose lease lapses leaves
the line).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.coordinator import CoordinatorActivities
    from use_cases.coordinator import (
        START_PROCESSING,
        STOP_PROCESSING,
        UPDATE,
        Instruction,
        ItemRef,
        ItemUpdate,
        StartProcessing,
        StopProcessing,
        Verdict,
    )
    from use_cases.lanes import CoordinatorSignal

SIGNAL_TIMEOUT = timedelta(seconds=10)
# a renewal or a letting-go that cannot get through in this time is given up: the lease
# lapses on its own (asking for the lane is not given up: the caller waits for its answer)
GIVE_UP_AFTER = timedelta(minutes=1)
SIGNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
)
DECIDED = {Verdict.GO, Verdict.NO_GO, Verdict.LOST}


class LaneRefused(ApplicationError):
    """The lane was full and the item asked not to wait (NO_GO)."""

    def __init__(self, instruction: Instruction) -> None:
        why = f": {instruction.reason}" if instruction.reason else ""
        super().__init__(f"lane {instruction.lane} refused{why}", type="LaneRefused")
        self.instruction = instruction


class LaneLost(ApplicationError):
    """The coordinator took the lane back (lease lapsed, released by an operator)."""

    def __init__(self, instruction: Instruction) -> None:
        why = f": {instruction.reason}" if instruction.reason else ""
        super().__init__(f"lane {instruction.lane} lost{why}", type="LaneLost")
        self.instruction = instruction


class LaneInstructions:
    """The latest instruction per (item, lane), fed by the workflow's signal handler."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], Instruction] = {}
        self.expected: dict[tuple[str, str], str] = {}  # the request id being answered

    def expect(self, item_id: str, lane: str, request_id: str) -> None:
        """A new request: what came before is forgotten, and a late instruction meant for
        an earlier request (its own request id) is ignored."""
        self.latest.pop((item_id, lane), None)
        self.expected[(item_id, lane)] = request_id

    def on_instruction(self, instruction: Instruction) -> None:
        """A decision stands against an undecided answer that arrives after it: the
        coordinator's signals can arrive out of order (a QUEUED after the GO that
        followed it), and a resend is answered again."""
        key = (instruction.item_id, instruction.lane)
        if instruction.request_id not in ("", self.expected.get(key, instruction.request_id)):
            return
        if instruction.verdict not in DECIDED and self.decided(*key) is not None:
            return
        self.latest[key] = instruction

    def decided(self, item_id: str, lane: str) -> Instruction | None:
        instruction = self.latest.get((item_id, lane))
        return instruction if instruction is not None and instruction.verdict in DECIDED else None


@dataclass
class HeldLane:
    lane: str
    item_id: str
    granted: Instruction
    instructions: LaneInstructions

    @property
    def lost(self) -> bool:
        now = self.instructions.latest.get((self.item_id, self.lane))
        return now is not None and now.verdict is Verdict.LOST


async def send(
    signal: str,
    message: StartProcessing | ItemUpdate | StopProcessing,
    *,
    give_up_after: timedelta | None = None,
) -> None:
    """One message to the coordinator (signal-with-start, by local activity)."""
    await workflow.execute_local_activity_method(
        CoordinatorActivities.coordinator_signal,
        CoordinatorSignal(signal=signal, message=message.model_dump(mode="json")),
        start_to_close_timeout=SIGNAL_TIMEOUT,
        schedule_to_close_timeout=give_up_after,
        retry_policy=SIGNAL_RETRY,
    )


async def _renew(asked: StartProcessing, every: timedelta, decided: Callable[[], bool]) -> None:
    """Until decided, the request itself is sent again (same request id: answered where the
    item stands now, LOST if the coordinator forgot it), so an item dropped from its line
    without a word does not wait forever; once decided, an Update."""
    item_id = asked.item.item_id
    while True:
        await workflow.sleep(every)
        renewal: tuple[str, StartProcessing | ItemUpdate] = (
            (UPDATE, ItemUpdate(item_id=item_id, lane=asked.lane))
            if decided()
            else (START_PROCESSING, asked)
        )
        try:
            await send(*renewal, give_up_after=GIVE_UP_AFTER)
        except ActivityError:
            workflow.logger.warning("lease not renewed (coordinator unreachable): %s", item_id)


async def _let_go(item_id: str, lane: str) -> None:
    let_go = StopProcessing(item_id=item_id, lane=lane, deregister=True)
    try:
        await send(STOP_PROCESSING, let_go, give_up_after=GIVE_UP_AFTER)
    except ActivityError:
        workflow.logger.warning("lane not let go (its lease lapses instead): %s", lane)


@asynccontextmanager
async def held_lane(
    lane: str,
    item: ItemRef,
    instructions: LaneInstructions,
    *,
    lease: timedelta = timedelta(seconds=60),
    wait: bool = True,
    capacity: int = 1,
) -> AsyncIterator[HeldLane]:
    """Hold `lane` for the body; LaneRefused (NO_GO, with wait=False) or LaneLost (taken back
    before go, or while held: raised on leaving) otherwise. Leaving lets the lane go and
    deregisters the item."""
    if item.workflow_id is None:
        item = item.model_copy(update={"workflow_id": workflow.info().workflow_id})
    asked = StartProcessing(
        item=item,
        lane=lane,
        wait=wait,
        capacity=capacity,
        lease_seconds=lease.total_seconds(),
        request_id=str(workflow.uuid4()),
    )
    instructions.expect(item.item_id, lane, asked.request_id)
    await send(START_PROCESSING, asked)
    renewing = asyncio.create_task(
        _renew(asked, lease / 3, lambda: instructions.decided(item.item_id, lane) is not None)
    )
    closed = False
    try:
        await workflow.wait_condition(lambda: instructions.decided(item.item_id, lane) is not None)
        answer = instructions.decided(item.item_id, lane)
        assert answer is not None
        if answer.verdict is Verdict.NO_GO:
            raise LaneRefused(answer)
        if answer.verdict is Verdict.LOST:
            raise LaneLost(answer)
        held = HeldLane(lane, item.item_id, answer, instructions)
        yield held
        if held.lost:
            raise LaneLost(instructions.latest[(item.item_id, lane)])
    except GeneratorExit:
        # Closed by Python's garbage collector, the run left in a stopped worker's cache
        # (sdk-python #494): no workflow runs here, and a command made now could land in
        # another workflow's activation. The lease lapses; the run goes on by replay.
        closed = True
        raise
    finally:
        if not closed:
            renewing.cancel()
            await _let_go(item.item_id, lane)
