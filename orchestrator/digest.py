"""The digest flow's wiring: its settings, its activities over the ports, its schedule."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from activities.digest import DigestActivities
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from orchestrator.flow_spec import FlowWorkerSettings, KeptSchedule
from use_cases.digest import DigestInput

if TYPE_CHECKING:
    from temporalio.client import Client

    from orchestrator.bootstrap import Wiring

DIGEST_SCHEDULE = "mailroom-digest"
CRON_RANGES = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
)


class DigestSettings(FlowWorkerSettings):
    """MAILROOM_DIGEST_*: who gets the daily digest (empty: no digest), and when."""

    to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cron: str = "0 7 * * *"

    @field_validator("to", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Five fields, each number in its field's range: a mistake is said by every
        command, not first by Temporal when the worker keeps the schedule."""
        fields = value.split()
        if len(fields) != len(CRON_RANGES):
            raise ValueError("a cron expression has 5 fields (minute hour day month weekday)")
        for field, (name, low, high) in zip(fields, CRON_RANGES, strict=True):
            if not re.fullmatch(r"[0-9A-Za-z*/,\-?]+", field):
                raise ValueError(f"{field!r} is not a cron {name}")
            numbers = [int(n) for n in re.findall(r"\d+", field.split("/")[0])]
            if any(not low <= n <= high for n in numbers):
                raise ValueError(f"{field!r}: the {name} is {low}-{high}")
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return list(DigestInput(to=tuple(value)).to) if value else []

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if not value.strip().startswith("@") and not 5 <= len(value.split()) <= 7:
            raise ValueError(f"{value!r} is not a cron expression (5 fields: 0 7 * * *)")
        return value.strip()


def digest_activities(wiring: Wiring, client: Client) -> Sequence[Callable[..., Any]]:
    threads = TemporalThreadGateway(client, task_queue=wiring.settings.task_queue)  # listing
    digest = DigestActivities(threads, wiring.sender, wiring.mailboxes.postmaster)
    return [digest.gather_digest, digest.send_digest]


def digest_schedule(settings: DigestSettings) -> KeptSchedule | None:
    """`mailroom-digest` when MAILROOM_DIGEST_TO names someone; else none is made."""
    if not settings.to:
        return None
    return KeptSchedule(DIGEST_SCHEDULE, settings.cron, DigestInput(to=tuple(settings.to)))
