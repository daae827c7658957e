"""What `mailroom status` shows: the facts orchestrator/status.py gathers, judged (a queue
nobody serves, an IMAP source not read for long, a backlog older than its bound) and written
as aligned lines or one JSON object. Pure: the time is given, so tests render any moment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.cli_output import visible

OK, FAIL, INFO = "ok", "fail", ""


@dataclass(frozen=True)
class QueueStatus:
    """A task queue and who serves it: `role` is threads, coordinator or a flow's name."""

    queue: str
    role: str
    workflow_pollers: int
    activity_pollers: int
    served: bool
    fix: str = ""


@dataclass(frozen=True)
class SourceStatus:
    """An IMAP source (account/folder, never its password) and its last error-free read."""

    source: str
    mailbox: str
    last_fetch: datetime | None
    late_after_seconds: float

    def age(self, now: datetime) -> float | None:
        return None if self.last_fetch is None else (now - self.last_fetch).total_seconds()

    def late(self, now: datetime) -> bool:
        age = self.age(now)
        return age is None or age > self.late_after_seconds


@dataclass(frozen=True)
class BacklogStatus:
    """Mail handed to Temporal that no thread has applied yet: the workflow tasks waiting on
    the thread queue, and how long the oldest has waited."""

    queue: str
    waiting: int
    oldest_seconds: float
    bound_seconds: float

    @property
    def old(self) -> bool:
        return self.waiting > 0 and self.oldest_seconds > self.bound_seconds


@dataclass(frozen=True)
class ThreadCounts:
    """Running threads; the stage counts are None without search attributes."""

    open: int
    escalated: int | None = None
    awaiting_approval: int | None = None
    needs_human: int | None = None


@dataclass(frozen=True)
class LastError:
    """The most recently closed workflow of ours that failed, timed out or was terminated."""

    workflow_id: str
    workflow_type: str
    status: str
    closed_at: datetime | None
    message: str = ""


@dataclass(frozen=True)
class Status:
    temporal: str
    namespace: str
    queues: list[QueueStatus]
    smtp: str
    smtp_listening: bool
    backlog: BacklogStatus
    threads: ThreadCounts
    sources: list[SourceStatus] = field(default_factory=list)
    last_error: LastError | None = None


@dataclass(frozen=True)
class Line:
    mark: str
    label: str
    detail: str


def lines(status: Status, now: datetime) -> list[Line]:
    found = [Line(OK, "temporal", f"{status.temporal} namespace {status.namespace}")]
    found += [_queue_line(q) for q in status.queues]
    smtp = f"{status.smtp} greets" if status.smtp_listening else f"nothing greets on {status.smtp}"
    found.append(Line(OK if status.smtp_listening else FAIL, "smtp", smtp))
    found += [_source_line(s, now) for s in status.sources]
    found += [_backlog_line(status.backlog), _threads_line(status.threads)]
    found.append(_error_line(status.last_error, now))
    return found


def all_ok(status: Status, now: datetime) -> bool:
    return all(line.mark != FAIL for line in lines(status, now))


def text(status: Status, now: datetime) -> str:
    """Aligned lines; whatever came from mail, a server or a store is shown escaped."""
    shown = lines(status, now)
    width = max(len(visible(line.label)) for line in shown)
    return "\n".join(
        f"{line.mark:<4} {visible(line.label):<{width}}  {visible(line.detail)}".rstrip()
        for line in shown
    )


def _queue_line(queue: QueueStatus) -> Line:
    detail = (
        f"{queue.queue}: {queue.workflow_pollers} workflow, "
        f"{queue.activity_pollers} activity pollers"
    )
    if not queue.served and queue.fix:
        detail += f" — fix: {queue.fix}"
    return Line(OK if queue.served else FAIL, f"queue {queue.role}", detail)


def _source_line(source: SourceStatus, now: datetime) -> Line:
    where = f"{source.source} → {source.mailbox}"
    age = source.age(now)
    if age is None:
        return Line(FAIL, "imap", f"{where}: never fetched")
    late = source.late(now)
    detail = f"{where}: last fetch {ago(age)} ago"
    if late:
        detail += f" (late: over {ago(source.late_after_seconds)})"
    return Line(FAIL if late else OK, "imap", detail)


def _backlog_line(backlog: BacklogStatus) -> Line:
    if not backlog.waiting:
        return Line(OK, "backlog", f"no mail waiting for a thread on {backlog.queue}")
    detail = (
        f"{backlog.waiting} waiting for a thread on {backlog.queue}, "
        f"oldest {ago(backlog.oldest_seconds)}"
    )
    if backlog.old:
        detail += f" (over the bound of {ago(backlog.bound_seconds)})"
    return Line(FAIL if backlog.old else OK, "backlog", detail)


def _threads_line(threads: ThreadCounts) -> Line:
    if threads.escalated is None:
        return Line(
            INFO,
            "threads",
            f"{threads.open} open (by stage: not counted, search attributes off or not registered)",
        )
    return Line(
        INFO,
        "threads",
        f"{threads.open} open, {threads.escalated} escalated, "
        f"{threads.awaiting_approval} awaiting approval, {threads.needs_human} needing a human",
    )


def _error_line(error: LastError | None, now: datetime) -> Line:
    if error is None:
        return Line(INFO, "last error", "none: no workflow failed, timed out or was terminated")
    when = f" {ago((now - error.closed_at).total_seconds())} ago" if error.closed_at else ""
    message = f": {error.message}" if error.message else ""
    status = error.status.lower().replace("_", " ")
    return Line(
        INFO, "last error", f"{error.workflow_type} {error.workflow_id} {status}{when}{message}"
    )


def ago(seconds: float) -> str:
    """A duration as an operator reads it: 42 s, 12 min, 3 h, 2 d."""
    seconds = max(0.0, seconds)
    for from_seconds, size, unit in ((2 * 86400, 86400, "d"), (7200, 3600, "h"), (60, 60, "min")):
        if seconds >= from_seconds:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def as_json(status: Status, now: datetime) -> dict[str, Any]:
    """One object: every fact, `ok` overall and `problems` (the lines marked fail)."""
    shown = lines(status, now)
    error = status.last_error
    return {
        "ok": all(line.mark != FAIL for line in shown),
        "problems": [f"{line.label}: {line.detail}" for line in shown if line.mark == FAIL],
        "temporal": {"address": status.temporal, "namespace": status.namespace},
        "queues": [vars(q) for q in status.queues],
        "smtp": {"address": status.smtp, "listening": status.smtp_listening},
        "imap": [
            {
                "source": s.source,
                "mailbox": s.mailbox,
                "last_fetch": s.last_fetch.isoformat() if s.last_fetch else None,
                "seconds_since_fetch": s.age(now),
                "late": s.late(now),
            }
            for s in status.sources
        ],
        "backlog": {**vars(status.backlog), "old": status.backlog.old},
        "threads": vars(status.threads),
        "last_error": None
        if error is None
        else {**vars(error), "closed_at": error.closed_at.isoformat() if error.closed_at else None},
    }
