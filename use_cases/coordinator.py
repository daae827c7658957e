"""The coordinator's language (seed 000): items register with one singleton workflow, ask
for a lane, are told go / no-go / queued, hold the lane under a lease they renew, and let it
go. Models and the port callers outside workflows use; the rules live in use_cases/lanes.py,
the workflow in workflows/coordinator.py.

An item is a workflow (procurement holding `budget:<cost centre>`) or a daemon (an IMAP
adapter holding `imap:<source>`). A workflow item is answered by an `Instruction` signal
(`COORDINATOR_INSTRUCTION`); a daemon, which cannot take signals, by the answer of an update.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

# One coordinator per namespace: a fixed id, reached only by signal-with-start or
# update-with-start so that exactly one runs.
COORDINATOR_WORKFLOW_ID = "mailroom-coordinator"
COORDINATOR_QUEUE = "coordinator-queue"  # prefixed by MAILROOM_QUEUE_PREFIX like the others

# Signals and updates the coordinator takes, and the signal it sends a workflow item.
REGISTER = "coordinator-register"
START_PROCESSING = "coordinator-start-processing"
UPDATE = "coordinator-update"
STOP_PROCESSING = "coordinator-stop-processing"
DEREGISTER = "coordinator-deregister"
RELEASE = "coordinator-release"  # an operator's `mailroom coordinator release ITEM`
REQUEST_LANE = "coordinator-request-lane"  # update: a daemon's StartProcessing, answered
LET_GO = "coordinator-let-go"  # update: a daemon's StopProcessing (+ Deregister), answered
COORDINATOR_INSTRUCTION = "coordinator-instruction"  # coordinator → workflow item
LIST_ITEMS = "coordinator-list-items"  # query
SEED_LIST_ITEMS = "orchestrator-query-list-orchestrated-items"  # the seed's name, same query

DEFAULT_LEASE_SECONDS = 60.0


class Verdict(StrEnum):
    REGISTERED = "registered"
    GO = "go"  # the lane is the item's until `lease_until` unless renewed
    NO_GO = "no-go"  # the lane is full and the item asked not to wait
    QUEUED = "queued"  # the lane is full; the item is `position` in its line (1 = next)
    LOST = "lost"  # the item held the lane no more (lease lapsed, released by an operator)
    RELEASED = "released"  # the item let the lane go


class ItemRef(BaseModel):
    item_id: str = Field(min_length=1)
    kind: str = "item"  # "procurement", "imap-daemon", …
    workflow_id: str | None = None  # where instructions go; None: a daemon, answered by update
    payload: dict[str, str] = Field(default_factory=dict)


class Register(BaseModel):
    item: ItemRef
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0)


class StartProcessing(BaseModel):
    """Ask for `lane` (registering the item if it is not yet). Asking again while holding
    renews the lease; while queued, it answers the place in line."""

    item: ItemRef
    lane: str = Field(min_length=1)
    wait: bool = False  # queue (FIFO) instead of taking no-go
    capacity: int = Field(default=1, ge=1)  # holders the lane allows, set by whoever opens it
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0)
    request_id: str = ""  # the same on a resend: answered again, not counted again


class ItemUpdate(BaseModel):
    item_id: str
    progress: str = ""  # free text shown by the query; renews the item's lease
    # the lane the item holds or waits for: it names the shard (MAILROOM_COORDINATOR_SHARDS)
    # a renewal goes to; None: every open shard
    lane: str | None = None


class StopProcessing(BaseModel):
    item_id: str
    lane: str
    deregister: bool = False  # and Deregister in the same message (one round trip)


class Deregister(BaseModel):
    item_id: str


class Instruction(BaseModel):
    item_id: str
    lane: str = ""
    verdict: Verdict
    position: int = 0  # QUEUED: 1 = next in line
    lease_until: datetime | None = None  # GO: renew before this
    reason: str = ""
    request_id: str = ""  # the StartProcessing this answers (an item asks again after LOST)


class ItemView(BaseModel):
    item_id: str
    workflow_id: str | None
    kind: str
    payload: dict[str, str]
    registered: bool
    processing: bool
    lane: str | None
    queued_for: str | None
    since: datetime
    lease_until: datetime | None
    progress: str = ""


class LaneView(BaseModel):
    lane: str
    capacity: int
    holders: list[str]
    queue: list[str]


class CoordinatorView(BaseModel):
    """What `orchestrator-query-list-orchestrated-items` answers."""

    total_items: int
    items: dict[str, ItemView]
    lanes: list[LaneView]
    signals_handled: int  # across continue-as-new
    runs: int = 1  # how many runs (continue-as-new) this coordinator has had


class Coordinator(Protocol):
    """The coordinator as a daemon (not a workflow) sees it: every call reaches the one
    running coordinator, starting it if none runs (update-with-start)."""

    async def request_lane(self, request: StartProcessing) -> Instruction: ...

    async def let_go(self, stop: StopProcessing) -> Instruction: ...

    async def view(self) -> CoordinatorView | None: ...  # None: no coordinator running


class CoordinatorSignals(Protocol):
    """Signal-with-start of the coordinator (the local activity workflow items send by)."""

    async def signal(self, name: str, message: dict[str, Any]) -> None: ...
