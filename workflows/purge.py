"""PurgeWorkflow: retention's purge (use_cases/retention.py), started by the schedule the
purge worker keeps (`<MAILROOM_QUEUE_PREFIX>mailroom-purge`) or `mailroom schedule trigger`.
One activity does the work in batches and heartbeats; a worker lost mid-purge is noticed
within the heartbeat timeout and the purge goes on elsewhere from where the stores are."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.purge import PurgeActivities
    from use_cases.retention import PurgeInput, PurgeReport

PURGE_TIMEOUT = timedelta(hours=6)  # a first purge of years of mail, batch after batch
HEARTBEAT_TIMEOUT = timedelta(minutes=2)  # one batch: 200 Temporal lookups, a few trips


@workflow.defn(name="PurgeWorkflow")
class PurgeWorkflow:
    @workflow.run
    async def run(self, purge: PurgeInput) -> PurgeReport:
        return await workflow.execute_activity_method(
            PurgeActivities.purge_expired_blobs,
            purge,
            start_to_close_timeout=PURGE_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=10)),
        )
