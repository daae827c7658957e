"""A section of procurement run alone on its budget's lane (`budget:<cost centre or
requester>`, use_cases/budgets.py): the budget check and the purchase order it allows, so that
two requests on one budget never both see the same money left."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.budgets import BudgetHolder
    from use_cases.coordinator import ItemRef

from workflows.lanes import LaneInstructions, LaneLost, held_lane

Result = TypeVar("Result")

# Renewed every third of it while held: a worker that dies holding the lane keeps the next
# request on that budget waiting at most this long.
BUDGET_LEASE = timedelta(seconds=60)
# A lane taken back before go (an operator's release, a lease lapsed in line while the worker
# was down) is asked for again, this many times in all.
LANE_ATTEMPTS = 3


async def in_budget_lane(
    holder: BudgetHolder,
    lanes: LaneInstructions,
    section: Callable[[], Awaitable[Result]],
) -> Result:
    """`section`'s result, run while this workflow holds `holder`'s lane (waiting in line
    for it). A lane found lost only after the section finished leaves its result standing:
    what it did (an order made) is done, and the next holder's check sees it in the ledger."""
    workflow_id = workflow.info().workflow_id
    item = ItemRef(
        item_id=workflow_id,
        kind="procurement",
        workflow_id=workflow_id,
        payload={"budget": holder.key},
    )
    for attempt in range(1, LANE_ATTEMPTS + 1):
        done: list[Result] = []
        try:
            async with held_lane(holder.lane, item, lanes, lease=BUDGET_LEASE):
                done.append(await section())
        except LaneLost as lost:
            if done:
                workflow.logger.warning("lane %s lost after its section: %s", holder.lane, lost)
                return done[0]
            if attempt == LANE_ATTEMPTS:
                raise
            workflow.logger.warning("lane %s lost before go, asking again: %s", holder.lane, lost)
            continue
        return done[0]
    raise AssertionError("the last attempt returns or raises")
