"""When did the stack come to rest after a pass? From its CPU, second by second.

At rest the stack is not idle: the embedded server keeps using CPU with nothing to do, and
how much grows with what a run left open (0.02 cores freshly started, 0.2-0.3 after a
bench.ingest run's passes on a slow day, measured). A threshold alone either ends the wait
while a flow still works or never ends it, and the figures of a pass then carry up to two
minutes of the parts' rest. So the stack is at rest once a second is under IDLE_CORES, or
once PLATEAU_SECONDS seconds in a row stay within PLATEAU_SPREAD of each other below
REST_CEILING without falling (a tail of work still winding down falls; a backlog drains at a
core or more, measured), and the pass's CPU is read where the rest began, not where the wait
noticed it.
"""

from __future__ import annotations

from collections.abc import Sequence

IDLE_CORES = 0.1
PLATEAU_SECONDS = 3
PLATEAU_SPREAD = 0.05
REST_CEILING = 0.4


def rest_began(busy: Sequence[float]) -> int | None:
    """The index of the one-second sample (cores used, oldest first) where the stack came
    to rest, or None while it has not."""
    if not busy:
        return None
    if busy[-1] < IDLE_CORES:
        return len(busy) - 1
    if len(busy) < PLATEAU_SECONDS:
        return None
    last = busy[-PLATEAU_SECONDS:]
    level = max(last) < REST_CEILING and max(last) - min(last) < PLATEAU_SPREAD
    if level and last[-1] >= last[0] - PLATEAU_SPREAD / 2:
        return len(busy) - PLATEAU_SECONDS
    return None
