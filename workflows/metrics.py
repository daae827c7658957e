"""What threads and flows count, through the workflow's metric meter (issue 21): one
function per event, so a call site is one line. The names, kinds and labels are the
catalogue's (use_cases/metric_catalogue.py).

`workflow.metric_meter()` records nothing while a history is replayed and no event in it:
counting changes no command, so no `workflow.patched` is needed. A workflow task that
failed and is run again counts what it did before it failed once more (rare: a task that
raised). Label values are bounded: a configured mailbox (mailbox_label), a registered
flow, a stage or an outcome named in code."""

from __future__ import annotations

from collections.abc import Collection

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from use_cases.mail import DeliveryReport, MessageKind


def mailbox_label(mailbox: str, counted: Collection[str]) -> str:
    """The thread's mailbox when the settings name it (FlowConfig.counted_mailboxes), else
    OTHER_MAILBOX: a label value never comes from an address a sender chose."""
    return mailbox if mailbox in counted else OTHER_MAILBOX


def _count(name: str, labels: dict[str, str] | None = None, value: int = 1) -> None:
    workflow.metric_meter().create_counter(name).add(value, labels)


def thread_opened(mailbox: str) -> None:
    _count("mailroom_threads_opened", {"mailbox": mailbox})


def thread_reopened(mailbox: str, flow: str | None) -> None:
    _count("mailroom_threads_reopened", {"mailbox": mailbox, "flow": flow or NO_FLOW})


def thread_completed(mailbox: str, flow: str | None, messages: int) -> None:
    _count("mailroom_threads_completed", {"mailbox": mailbox, "flow": flow or NO_FLOW})
    histogram = workflow.metric_meter().create_histogram("mailroom_thread_messages")
    histogram.record(messages, {"mailbox": mailbox})


def stage_entered(flow: str, stage: str) -> None:
    _count("mailroom_stage_transitions", {"flow": flow, "stage": stage})


def escalated(flow: str) -> None:
    _count("mailroom_escalations", {"flow": flow})


def waited_past_its_time(flow: str, waiting_for: str) -> None:
    """A person has not answered within the time the flow allows (support's SLA for an
    escalation, procurement's approval reminder): counted when that time runs out, again
    each time it runs out once more."""
    _count("mailroom_overdue_waits", {"flow": flow, "waiting_for": waiting_for})


def duplicate_dropped() -> None:
    _count("mailroom_thread_duplicates_dropped")


def automatic_mail_not_answered(reason: str) -> None:
    """reason: one of SUPPRESSED_REASONS."""
    _count("mailroom_automatic_mail_suppressed", {"reason": reason})


def loop_broken() -> None:
    """A thread stopped answering a sender over its cap of automatic answers."""
    _count("mailroom_loop_breaker_fired")


def bounce_received(report: DeliveryReport | None) -> None:
    _count("mailroom_bounces", {"class": bounce_class(report)})


def purchase_order(outcome: str) -> None:
    """outcome: ordered, rejected, over_budget."""
    _count("mailroom_purchase_orders", {"outcome": outcome})


def bounce_class(report: DeliveryReport | None) -> str:
    """RFC 3463's class digit of the report's status (5 permanent, 4 transient); a delay
    notice (RFC 3464 action `delayed`) is soft."""
    if report is not None and report.action.strip().lower() == "delayed":
        return "soft"
    status = (report.status if report else "").strip()
    return {"5": "hard", "4": "soft"}.get(status[:1], "other")


def not_answered_reason(kind: MessageKind) -> str:
    """Why automatic mail a thread received gets no answer: a bounce, our own mail come
    back (X-Loop), or other machine mail (auto-replies, lists, reports)."""
    if kind is MessageKind.BOUNCE:
        return "bounce"
    return "loop" if kind is MessageKind.OWN else "machine_mail"


NO_FLOW = "none"
OTHER_MAILBOX = "other"
