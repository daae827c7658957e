"""One timer shared by a flow's successive waits for mail with a deadline.

A wait that mail ends first would otherwise start a timer and cancel it: two history events
and a timer task through the server for every message. The alarm is left running instead;
the next wait reuses it when it rings no later than that wait's deadline, and when it rings
for a deadline that has since moved on, a new alarm is set for the rest. A customer writing a
hundred times within an SLA period costs a couple of timers, not a hundred.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

SHORTEST_TIMER = timedelta(milliseconds=1)


class Alarm:
    def __init__(self, at: datetime) -> None:
        self.at = at
        self._task = asyncio.create_task(workflow.sleep(max(at - workflow.now(), SHORTEST_TIMER)))

    @property
    def rang(self) -> bool:
        return self._task.done()

    def serves(self, deadline: datetime) -> bool:
        """True if it rings no later than `deadline` (a later deadline is waited in steps)."""
        return not self.rang and self.at <= deadline

    def rang_for(self, deadline: datetime) -> bool:
        return self.rang and self.at >= deadline

    def stop(self) -> None:
        if not self.rang:
            self._task.cancel()
