"""DigestWorkflow: the open and escalated threads, mailed to an operator (seed 002).

Started by a schedule (`mailroom-digest`, kept by the digest's worker) or `mailroom schedule
trigger`; one activity gathers the open threads, the text is made here from them and the
workflow's clock, one activity sends it under a Message-ID fixed here, so a retried send is
the same mail.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.digest import DigestActivities
    from use_cases.digest import (
        DigestInput,
        DigestResult,
        digest_subject,
        digest_text,
    )
    from use_cases.mail import OutboundEmail

GATHER_TIMEOUT = timedelta(minutes=2)  # one query per open thread, 16 at a time
SEND_TIMEOUT = timedelta(seconds=60)
# the next digest comes tomorrow: a relay down for hours is retried until then at most
SEND_GIVE_UP_AFTER = timedelta(hours=20)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    @workflow.run
    async def run(self, digest: DigestInput) -> DigestResult:
        facts = await workflow.execute_activity_method(
            DigestActivities.gather_digest,
            digest,
            start_to_close_timeout=GATHER_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        domain = facts.sender.rpartition("@")[2] or "mailroom.local"
        mail = OutboundEmail(
            message_id=f"<digest.{workflow.uuid4().hex}@{domain}>",
            from_addr=facts.sender,
            to=digest.to,
            subject=digest_subject(facts.rows),
            text=digest_text(facts.rows, workflow.now()),
            headers={"Auto-Submitted": "auto-generated"},
            kind="notification",
        )
        await workflow.execute_activity_method(
            DigestActivities.send_digest,
            mail,
            start_to_close_timeout=SEND_TIMEOUT,
            schedule_to_close_timeout=SEND_GIVE_UP_AFTER,
            retry_policy=RETRY,
        )
        escalated = sum(row.escalated for row in facts.rows)
        return DigestResult(
            message_id=mail.message_id, open_threads=len(facts.rows), escalated=escalated
        )
