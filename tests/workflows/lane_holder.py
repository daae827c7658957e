"""A test-only workflow item: holds a lane with `held_lane` until told to let go."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.coordinator import COORDINATOR_INSTRUCTION, Instruction, ItemRef
    from workflows.lanes import LaneInstructions, LaneLost, LaneRefused, held_lane

LET_GO = "let-go"


class Holding(BaseModel):
    item_id: str
    lane: str = "budget:cc"
    wait: bool = True
    lease_seconds: float = 60.0
    # its lane closed as Python's garbage collector closes the coroutine of a run left in a
    # stopped worker's cache (GeneratorExit at its `yield`), once told to let go
    collected: bool = False


@workflow.defn(name="LaneHolderWorkflow")
class LaneHolderWorkflow:
    def __init__(self) -> None:
        self.lanes = LaneInstructions()
        self.stage = "asking"
        self.letting_go = False

    @workflow.run
    async def run(self, holding: Holding) -> str:
        item = ItemRef(item_id=holding.item_id, kind="test")
        lease = timedelta(seconds=holding.lease_seconds)
        if holding.collected:
            return await self._collected(holding.lane, item, lease)
        try:
            async with held_lane(
                holding.lane, item, self.lanes, lease=lease, wait=holding.wait
            ) as held:
                self.stage = "holding"
                await workflow.wait_condition(lambda: self.letting_go or held.lost)
        except LaneRefused:
            return "refused"
        except LaneLost:
            return "lost"
        return "done"

    async def _collected(self, lane: str, item: ItemRef, lease: timedelta) -> str:
        holding = held_lane(lane, item, self.lanes, lease=lease)
        await holding.__aenter__()
        self.stage = "holding"
        await workflow.wait_condition(lambda: self.letting_go)
        await holding.gen.aclose()  # GeneratorExit at its yield, as the collector throws
        return "collected"

    @workflow.signal(name=COORDINATOR_INSTRUCTION)
    def coordinator_instruction(self, instruction: Instruction) -> None:
        self.lanes.on_instruction(instruction)

    @workflow.signal(name=LET_GO)
    def let_go(self) -> None:
        self.letting_go = True

    @workflow.query(name="stage")
    def current_stage(self) -> str:
        return self.stage


@workflow.defn(name="ClockWorkflow")
class ClockWorkflow:
    """Awaiting its result lets the time-skipping server skip `seconds` (env.sleep stalled
    here once a test before had skipped time)."""

    @workflow.run
    async def run(self, seconds: float) -> None:
        await workflow.sleep(seconds)
