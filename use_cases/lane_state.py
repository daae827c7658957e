"""The coordinator's state and messages of its own (issue 18): what use_cases/lanes.py
rules over and workflows/coordinator.py carries across continue-as-new."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from use_cases.coordinator import COORDINATOR_WORKFLOW_ID, Instruction, ItemRef

ANSWERS_KEPT = 1_000  # request ids answered recently (a resend comes within seconds)


def coordinator_id(queue_prefix: str = "") -> str:
    """The one coordinator of an installation (its queue prefix, like its queue)."""
    return f"{queue_prefix}{COORDINATOR_WORKFLOW_ID}"


class ItemRecord(BaseModel):
    ref: ItemRef
    since: datetime  # registered, or its last change of lane (granted, queued)
    lease_seconds: float
    lease_until: datetime
    progress: str = ""


class Lane(BaseModel):
    capacity: int = 1
    holders: list[str] = Field(default_factory=list)
    queue: list[str] = Field(default_factory=list)  # FIFO: the first is next


class CoordinatorState(BaseModel):
    items: dict[str, ItemRecord] = Field(default_factory=dict)
    lanes: dict[str, Lane] = Field(default_factory=dict)
    signals_handled: int = 0
    runs: int = 1
    answered: dict[str, Instruction] = Field(default_factory=dict)


class Outgoing(BaseModel):
    """An instruction for an item that did not ask just now (granted from the queue, lost)."""

    instruction: Instruction
    workflow_id: str | None  # None: a daemon, which learns it when it asks again


class Outcome(BaseModel):
    answer: Instruction | None = None  # to the sender of the message
    others: list[Outgoing] = Field(default_factory=list)


class CoordinatorInput(BaseModel):
    """The coordinator workflow's input; `state` is carried across continue-as-new."""

    state: CoordinatorState | None = None
    idle_timeout_seconds: float = Field(default=600.0, gt=0)
    continue_as_new_after_events: int = Field(default=2_000, ge=10)


class CoordinatorSignal(BaseModel):
    """A message for the coordinator, sent by signal-with-start (coordinator_signal, the
    local activity workflow items use): `signal` is REGISTER, START_PROCESSING, UPDATE,
    STOP_PROCESSING or DEREGISTER; `message` the matching model as JSON."""

    signal: str
    message: dict[str, Any]
