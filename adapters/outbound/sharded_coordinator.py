"""Several coordinators, each granting the lanes whose name hashes to it
(use_cases/coordinator_shards.py), seen as one: the same calls as TemporalCoordinator.

A message naming a lane (StartProcessing, StopProcessing, request_lane, let_go, a renewal
by UPDATE) goes to its lane's shard. One naming none (DEREGISTER, an UPDATE without a lane)
goes to every open shard: activities run on any worker, so no process knows which shards
an item's other messages went to. A renewal or one naming none is a plain signal: a shard
with no open run holds nothing of the item, and is not started for it. REGISTER alone goes
to the shard of the item's id. view() merges every open shard's; release() reaches them all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from adapters.concurrently import every
from adapters.outbound.temporal_coordinator import TemporalCoordinator
from use_cases.coordinator import (
    REGISTER,
    RELEASE,
    UPDATE,
    CoordinatorView,
    Instruction,
    StartProcessing,
    StopProcessing,
)
from use_cases.coordinator_shards import shard_ids, shard_of


class ShardedCoordinator:
    def __init__(self, shards: Sequence[TemporalCoordinator]) -> None:
        self.shards = list(shards)

    @classmethod
    def over(cls, one: TemporalCoordinator, shards: int) -> ShardedCoordinator:
        """`shards` coordinators like `one` (its queue and start input), ids `<its id>-<k>`."""
        return cls(
            [
                TemporalCoordinator(
                    one.client,
                    one.queue,
                    workflow_id=shard_id,
                    start_input=one.start_input,
                    patience_seconds=one.patience_seconds,
                )
                for shard_id in shard_ids(one.workflow_id, shards)
            ]
        )

    def _shard(self, name: str) -> TemporalCoordinator:
        return self.shards[shard_of(name, len(self.shards))]

    async def request_lane(self, request: StartProcessing) -> Instruction:
        return await self._shard(request.lane).request_lane(request)

    async def let_go(self, stop: StopProcessing) -> Instruction:
        return await self._shard(stop.lane).let_go(stop)

    async def signal(self, name: str, message: dict[str, Any]) -> None:
        item = message.get("item")
        item_id = str(item["item_id"] if isinstance(item, dict) else message.get("item_id"))
        lane = message.get("lane")
        if isinstance(lane, str) and name == UPDATE:
            await _signal_open(self._shard(lane), name, message)
        elif isinstance(lane, str):
            await self._shard(lane).signal(name, message)
        elif name == REGISTER:
            await self._shard(item_id).signal(name, message)
        else:
            await asyncio.gather(*(_signal_open(shard, name, message) for shard in self.shards))

    async def view(self) -> CoordinatorView | None:
        views = [v for v in await every(s.view() for s in self.shards) if v]
        if not views:
            return None
        items = {key: item for v in views for key, item in v.items.items()}
        return CoordinatorView(
            total_items=len(items),
            items=items,
            lanes=sorted((lane for v in views for lane in v.lanes), key=lambda lane: lane.lane),
            signals_handled=sum(v.signals_handled for v in views),
            runs=sum(v.runs for v in views),
        )

    async def release(self, item_id: str) -> None:
        await asyncio.gather(*(_signal_open(s, RELEASE, item_id) for s in self.shards))


async def _signal_open(shard: TemporalCoordinator, name: str, message: object) -> None:
    """Signal the shard's open run; none open (never started, or idle and completed) holds
    nothing to renew, deregister or release."""
    try:
        await shard.client.get_workflow_handle(shard.workflow_id).signal(name, message)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
