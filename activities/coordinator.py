"""A workflow item's message to the coordinator, sent by a local activity (signal-with-start:
the coordinator starts if no run is open). Sent from a local activity, a message is one RPC
inside the sender's workflow task; a task retried before it completed sends it again, which
the rules absorb (a StartProcessing carries its request id, the other messages change
nothing when applied twice)."""

from __future__ import annotations

from temporalio import activity

from use_cases.coordinator import CoordinatorSignals
from use_cases.lanes import CoordinatorSignal


class CoordinatorActivities:
    def __init__(self, coordinator: CoordinatorSignals) -> None:
        self.coordinator = coordinator

    @activity.defn(name="coordinator_signal")
    async def coordinator_signal(self, sent: CoordinatorSignal) -> None:
        await self.coordinator.signal(sent.signal, sent.message)
