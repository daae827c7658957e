"""When a process group (process_group.py) starts a child again, and when it gives up.

- A child that ends before it said it was ready (its start failed: PostgreSQL or Temporal
  restarting, a database migration under way) is started again after a pause that doubles up
  to MAX_UNREADY_PAUSE_SECONDS, for ever: what it waits for comes back, and the node's other
  processes serve meanwhile. Each attempt is logged, so an operator sees it.
- A child that crashes after it was ready, or that cannot be started at all (fork failing:
  EAGAIN, EMFILE), is started again after a pause that doubles too; the MAX_EXITS-th such end
  within EXIT_WINDOW_SECONDS is a crash loop: the group gives up (mailroom exits 1).
  Start-up failures in between neither count nor reset it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

MAX_EXITS = 5
EXIT_WINDOW_SECONDS = 60.0
FIRST_RESTART_PAUSE_SECONDS = 0.5
MAX_UNREADY_PAUSE_SECONDS = 60.0
# 0.5 s doubled 7 times is past the cap: a longer run of failures needs no larger power.
_MAX_DOUBLINGS = 7


class Ending(enum.Enum):
    CRASHED = "crashed"  # ended after it said it was ready
    UNREADY = "unready"  # ended before it said it was ready
    UNSTARTED = "unstarted"  # could not be started (no process)


@dataclass
class RestartPolicy:
    """One slot's record of how its children ended."""

    crashes: list[float] = field(default_factory=list)  # within EXIT_WINDOW_SECONDS
    unready_in_a_row: int = 0

    def pause_after(self, ending: Ending, now: float) -> float | None:
        """Seconds to wait before starting the slot's child again; None: give up."""
        if ending is Ending.UNREADY:
            self.unready_in_a_row += 1
            return min(_doubled(self.unready_in_a_row), MAX_UNREADY_PAUSE_SECONDS)
        self.unready_in_a_row = 0
        self.crashes = [t for t in self.crashes if now - t < EXIT_WINDOW_SECONDS] + [now]
        if len(self.crashes) >= MAX_EXITS:
            return None
        return _doubled(len(self.crashes))

    @property
    def recent_crashes(self) -> int:
        return len(self.crashes)


def _doubled(nth: int) -> float:
    doublings: int = 2 ** min(nth - 1, _MAX_DOUBLINGS)
    return FIRST_RESTART_PAUSE_SECONDS * doublings
