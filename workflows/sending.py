"""Sending mail from workflow code: one activity call, retried with backoff, and a mail
that can never be delivered recorded as a failure instead of failing the workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from activities.email import PERMANENT_DELIVERY_FAILURE, EmailActivities
    from use_cases.mail import OutboundEmail
    from use_cases.models import DeliveryFailure, DeliveryFailureDetails

SEND_TIMEOUT = timedelta(seconds=60)
SEND_GIVE_UP_AFTER = timedelta(days=2)
# A send to the relay heartbeats while the relay takes the mail (activities/heartbeat.py): a
# worker killed mid-send has it retried on another worker after this, not after
# SEND_TIMEOUT (the sent log keeps a retry from sending it twice).
SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# 4xx and connection errors: a relay that is down for hours is retried ever more slowly.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[PERMANENT_DELIVERY_FAILURE],
)
MAX_DELIVERY_FAILURES = 20


# Mail to the built-in outbox (a Maildir on the worker's disk) is written in milliseconds:
# as a local activity it is done inside the workflow task that decided to send it, instead of
# a scheduled activity and one more workflow task through the server for every reply. Mail to
# an SMTP relay, which can hang or be down for hours, stays a normal activity, timed and
# retried by the server without holding a workflow task.
LOCAL_SEND_TIMEOUT = timedelta(seconds=10)
# A local activity retried in the worker holds its workflow task, and the back-pressure
# counts a held task as mail waiting: retries that back off longer than this wait on a
# server timer instead, so one failing mail does not defer everyone's.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=1)


async def send_mail(mail: OutboundEmail, *, local: bool = False) -> DeliveryFailure | None:
    """Send `mail` (its Message-ID fixed by the caller); None when it went out. `local`:
    the sender is the in-process outbox."""
    try:
        if local:
            await workflow.execute_local_activity_method(
                EmailActivities.send_email,
                mail,
                start_to_close_timeout=LOCAL_SEND_TIMEOUT,
                schedule_to_close_timeout=SEND_GIVE_UP_AFTER,
                retry_policy=SEND_RETRY,
                local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            )
        else:
            await workflow.execute_activity_method(
                EmailActivities.send_email,
                mail,
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=SEND_GIVE_UP_AFTER,
                heartbeat_timeout=SEND_HEARTBEAT_TIMEOUT,
                retry_policy=SEND_RETRY,
            )
        return None
    # A local activity's last failure arrives unwrapped (see workflows/agent_calls.py).
    except (ActivityError, ApplicationError, TemporalTimeout) as error:
        return _failure(mail, error)


def _failure(
    mail: OutboundEmail, error: ActivityError | ApplicationError | TemporalTimeout
) -> DeliveryFailure:
    cause = error.cause if isinstance(error, ActivityError) else error
    status, reason = "timeout", str(cause or error)
    if isinstance(cause, ApplicationError) and cause.type == PERMANENT_DELIVERY_FAILURE:
        details = DeliveryFailureDetails.model_validate(cause.details[0]) if cause.details else None
        status = details.status if details else "5xx"
        reason = details.reason if details else cause.message
    workflow.logger.warning("mail %s not delivered: %s %s", mail.message_id, status, reason)
    return DeliveryFailure(
        message_id=mail.message_id,
        recipients=mail.to,
        status=status,
        reason=reason,
        source="relay",
        at=workflow.now(),
    )


def remember(failures: list[DeliveryFailure], failure: DeliveryFailure) -> list[DeliveryFailure]:
    if any(f.message_id == failure.message_id and f.source == failure.source for f in failures):
        return failures
    return [*failures, failure][-MAX_DELIVERY_FAILURES:]
