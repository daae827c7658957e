"""The purge flow's wiring: retention's stores over the process's, its schedule, and
`mailroom purge`'s one-off run in this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError, field_validator

from activities.purge import PurgeActivities
from adapters.outbound.postgres_thread_index import PostgresThreadIndex
from adapters.outbound.temporal_completions import TemporalThreadCompletions
from adapters.outbound.thread_blobs import PostgresThreadBlobs, SqliteThreadBlobs
from adapters.outbound.thread_index import SqliteThreadIndex
from orchestrator.digest import DigestSettings
from orchestrator.flow_spec import FlowWorkerSettings, KeptSchedule
from use_cases.retention import PurgeInput, RemovableBlobs, ThreadBlobs

if TYPE_CHECKING:
    from temporalio.client import Client

    from orchestrator.bootstrap import Wiring

PURGE_SCHEDULE = "mailroom-purge"


class PurgeSettings(FlowWorkerSettings):
    """MAILROOM_PURGE_CRON: when the purge runs (daily by default). How long blobs are
    kept is the process's MAILROOM_RETENTION_DAYS (the purge's worker reads it)."""

    cron: str = "30 3 * * *"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Checked as the digest's cron is."""
        try:
            return DigestSettings(cron=value).cron
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from None


def thread_blobs(index: object) -> ThreadBlobs:
    if isinstance(index, PostgresThreadIndex):
        return PostgresThreadBlobs(index)
    if isinstance(index, SqliteThreadIndex):
        return SqliteThreadBlobs(index)
    raise TypeError(f"no record of thread blobs in {type(index).__name__}")


def removable(blobs: object) -> RemovableBlobs:
    if not isinstance(blobs, RemovableBlobs):
        raise TypeError(f"{type(blobs).__name__} cannot remove blobs (sizes, remove_for_good)")
    return blobs


def purge_activities_of(wiring: Wiring, client: Client) -> PurgeActivities:
    return PurgeActivities(
        thread_blobs(wiring.threading.index),
        removable(wiring.blobs),
        TemporalThreadCompletions(client),
        timedelta(days=wiring.settings.retention_days),
    )


def purge_activities(wiring: Wiring, client: Client) -> Sequence[Callable[..., Any]]:
    return [purge_activities_of(wiring, client).purge_expired_blobs]


def purge_schedule(settings: PurgeSettings) -> KeptSchedule:
    """Always kept: retention is on for every installation."""
    return KeptSchedule(PURGE_SCHEDULE, settings.cron, PurgeInput())
