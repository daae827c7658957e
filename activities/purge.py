"""The purge's activity: remove the blobs of threads past retention, in bounded batches,
heartbeating after each (use_cases/retention.py). The clock is given, so a test can run a
purge "31 days later" without waiting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity

from use_cases.retention import (
    PurgeInput,
    PurgeReport,
    RemovableBlobs,
    ThreadBlobs,
    ThreadCompletions,
    purge_expired,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class PurgeActivities:
    def __init__(
        self,
        index: ThreadBlobs,
        blobs: RemovableBlobs,
        completions: ThreadCompletions,
        retention: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.index = index
        self.blobs = blobs
        self.completions = completions
        self.retention = retention
        self.clock = clock

    @activity.defn(name="purge_expired_blobs")
    async def purge_expired_blobs(self, purge: PurgeInput) -> PurgeReport:
        """Safe to retry from the start: what is gone is not looked at again."""
        report = await purge_expired(
            self.index,
            self.blobs,
            self.completions,
            now=self.clock(),
            retention=self.retention,
            dry_run=purge.dry_run,
            progress=_heartbeat,
        )
        activity.logger.info(
            "purge %s: %d threads, %d blobs, %d bytes",
            "dry run" if report.dry_run else "done",
            report.threads,
            report.blobs,
            report.bytes,
        )
        return report


def _heartbeat(report: PurgeReport) -> None:
    if activity.in_activity():
        activity.heartbeat(report.model_dump())
