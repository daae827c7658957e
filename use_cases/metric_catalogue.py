"""Every metric mailroom exports (issue 21): its name, kind, labels and meaning, in one
place. The exporters declare them from here (so a scrape lists each one even before it
first counts), the shipped alert rules and dashboard may name only these, and a test checks
both against a scrape of a running stack.

Names follow Prometheus conventions: a unit in the name (`_seconds`), `_total` on a
counter's samples (not in the name here), labels with bounded values only (a configured
mailbox or source name, a flow, a stage, a reason from a fixed list; never an address, a
subject or a thread id).

`origin` says who records it: `process` through prometheus-client in the adapters' process
(`adapters/outbound/metrics.py`), `workflow` / `activity` through the Temporal SDK's metric
meter (`workflow.metric_meter()` is replay-safe: nothing is counted again when a history is
replayed), exported on the same endpoint (`adapters/outbound/temporal_sdk_metrics.py`),
where the SDK adds `namespace`, `task_queue` and `workflow_type` / `activity_type`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]
Origin = Literal["process", "workflow", "activity"]


@dataclass(frozen=True)
class MetricSpec:
    name: str  # without `_total`; a histogram's base name
    kind: Kind
    labels: tuple[str, ...]
    help: str
    origin: Origin = "process"


def _spec(
    name: str, kind: Kind, labels: tuple[str, ...], help: str, origin: Origin = "process"
) -> MetricSpec:
    return MetricSpec(name, kind, labels, help, origin)


CATALOGUE: tuple[MetricSpec, ...] = (
    # SMTP intake (adapters/inbound/smtp.py)
    _spec(
        "mailroom_smtp_mails_received",
        "counter",
        (),
        "Mails whose body arrived over SMTP (DATA), before any check or hand-off.",
    ),
    _spec(
        "mailroom_smtp_mails",
        "counter",
        ("stage", "outcome", "code", "reason"),
        "SMTP answers about a mail: every answer to DATA, refusals and deferrals at MAIL and "
        "RCPT; by stage (mail, rcpt, data), outcome (accepted, deferred, refused), reply code "
        "and named reason.",
    ),
    _spec(
        "mailroom_handoff_seconds",
        "histogram",
        ("outcome",),
        "Time to hand a received mail to its threads (Temporal signal-with-start and the "
        "stores), by how the hand-off ended.",
    ),
    _spec(
        "mailroom_smtp_held_senders",
        "gauge",
        (),
        "SMTP senders held at MAIL now, waiting for the hand-off backlog to clear.",
    ),
    _spec(
        "mailroom_smtp_connections_closed",
        "counter",
        ("code", "reason"),
        "SMTP connections mailroom closed with an answer of its own (421, 554), by code and "
        "reason: too many connections, idle or session time out, protocol abuse, failed "
        "authentications, a local error.",
    ),
    # Intake of every source (SMTP mailboxes and IMAP sources)
    _spec(
        "mailroom_intake_last_accepted_timestamp_seconds",
        "gauge",
        ("source",),
        "Unix time of the last mail accepted from a source (a configured SMTP mailbox or "
        "IMAP source name); the process's start time until the first.",
    ),
    _spec(
        "mailroom_intake_expected_interval_seconds",
        "gauge",
        ("source",),
        "How long a source may stay quiet before an alert "
        "(MAILROOM_INTAKE_EXPECTED_INTERVAL; 0: never).",
    ),
    _spec(
        "mailroom_backlog_age_seconds",
        "gauge",
        (),
        "Age of the oldest mail handed to Temporal but not yet applied in its thread "
        "(0: none), as this process's backlog probe last saw it.",
    ),
    _spec(
        "mailroom_backlog_mails",
        "gauge",
        (),
        "Mails handed to Temporal by this process and not yet seen applied in their threads.",
    ),
    _spec(
        "mailroom_duplicates_dropped",
        "counter",
        ("where",),
        "Mails dropped as already taken (intake: a completed thread has the Message-ID).",
    ),
    # IMAP sources (adapters/inbound/imap*.py)
    _spec(
        "mailroom_imap_last_fetch_timestamp_seconds",
        "gauge",
        ("source",),
        "Unix time of the last successful fetch from an IMAP source; the process's start "
        "time until the first.",
    ),
    _spec("mailroom_imap_mails_fetched", "counter", ("source",), "Mails fetched by IMAP."),
    _spec(
        "mailroom_imap_errors",
        "counter",
        ("source", "error"),
        "Failed IMAP sessions by kind of error (connect, login, fetch, other).",
    ),
    _spec(
        "mailroom_imap_quarantined",
        "counter",
        ("source",),
        "IMAP messages quarantined (unparseable or refused) instead of handed off.",
    ),
    # Threads (workflows/thread.py, routing.py)
    _spec(
        "mailroom_threads_opened",
        "counter",
        ("mailbox",),
        "Threads started by a first mail.",
        "workflow",
    ),
    _spec(
        "mailroom_threads_completed",
        "counter",
        ("mailbox", "flow"),
        "Threads completed.",
        "workflow",
    ),
    _spec(
        "mailroom_threads_reopened",
        "counter",
        ("mailbox", "flow"),
        "Threads reopened by a mail after their flow had finished.",
        "workflow",
    ),
    _spec(
        "mailroom_thread_messages",
        "histogram",
        ("mailbox",),
        "Messages a thread took, observed when it completes.",
        "workflow",
    ),
    _spec(
        "mailroom_thread_duplicates_dropped",
        "counter",
        (),
        "Mails a thread dropped as delivered to it twice (a separate name from the "
        "intake's: the workflows' metrics come through the SDK's exporter, and one name "
        "cannot be served by two collectors).",
        "workflow",
    ),
    _spec(
        "mailroom_stage_transitions",
        "counter",
        ("flow", "stage"),
        "Stages flows came to (each stage entered once per entry).",
        "workflow",
    ),
    _spec(
        "mailroom_escalations",
        "counter",
        ("flow",),
        "Threads handed to a person (escalated or needing a human).",
        "workflow",
    ),
    _spec(
        "mailroom_overdue_waits",
        "counter",
        ("flow", "waiting_for"),
        "A person not answering within the time the flow allows: support's SLA for an "
        "escalation (waiting_for=escalation), procurement's approval reminder "
        "(waiting_for=approval); counted each time that time runs out.",
        "workflow",
    ),
    # Outgoing mail (activities/email.py sends; the workflows count what they do not answer)
    _spec(
        "mailroom_replies_sent",
        "counter",
        ("kind",),
        "Mails sent by kind (answer, acknowledgement, approval_request, notification, "
        "human_reply, other).",
        "activity",
    ),
    _spec(
        "mailroom_automatic_mail_suppressed",
        "counter",
        ("reason",),
        "Automatic answers not sent: reason cap (across threads, counted by the send_email "
        "activity), loop, machine_mail, bounce (by the thread or its flow).",
        "workflow",
    ),
    _spec(
        "mailroom_bounces",
        "counter",
        ("class",),
        "Bounces (delivery status notifications) received, by class (hard, soft, other).",
        "workflow",
    ),
    _spec(
        "mailroom_loop_breaker_fired",
        "counter",
        (),
        "Mail loops broken (a thread stopped answering a sender that answers every mail).",
        "workflow",
    ),
    # Procurement
    _spec(
        "mailroom_purchase_orders",
        "counter",
        ("outcome",),
        "Purchase orders by outcome (ordered, rejected, over_budget).",
        "workflow",
    ),
    # Agents
    _spec(
        "mailroom_agent_calls",
        "counter",
        ("agent", "outcome"),
        "Agent calls by agent and outcome (ok, failed).",
        "activity",
    ),
    _spec(
        "mailroom_agent_call_seconds",
        "histogram",
        ("agent",),
        "Agent call latency.",
        "activity",
    ),
    _spec(
        "mailroom_agent_tokens",
        "counter",
        ("agent",),
        "Tokens used by agent calls.",
        "activity",
    ),
)

BY_NAME = {spec.name: spec for spec in CATALOGUE}


def exported_names(spec: MetricSpec) -> tuple[str, ...]:
    """The sample names a scrape shows for `spec`."""
    if spec.kind == "counter":
        return (f"{spec.name}_total",)
    if spec.kind == "histogram":
        return tuple(f"{spec.name}_{end}" for end in ("bucket", "count", "sum"))
    return (spec.name,)
