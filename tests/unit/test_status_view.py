"""What `mailroom status` shows: aligned lines, `fail` on what needs the operator (a queue
nobody polls, SMTP silent, an IMAP source not read for long, an old backlog) and nothing
else, text from mail or servers escaped, and one JSON object with the same judgement."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.taskqueue.v1 import PollerInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueResponse

from adapters.inbound.imap_source import parse_source
from orchestrator.status import pollers, source_status
from orchestrator.status_view import (
    BacklogStatus,
    LastError,
    QueueStatus,
    SourceStatus,
    Status,
    ThreadCounts,
    ago,
    all_ok,
    as_json,
    text,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def healthy() -> Status:
    return Status(
        temporal="127.0.0.1:7233",
        namespace="default",
        queues=[
            QueueStatus("mailroom-threads", "threads", 2, 2, True),
            QueueStatus("mailroom-support-queue", "support", 1, 1, True),
        ],
        smtp="127.0.0.1:2525",
        smtp_listening=True,
        backlog=BacklogStatus("mailroom-threads", 0, 0.0, 10.0),
        threads=ThreadCounts(open=3, escalated=1, awaiting_approval=0, needs_human=2),
        sources=[SourceStatus("sales@imap.example.com:993/INBOX", "sales@x", NOW, 600.0)],
    )


def marked(status: Status) -> list[str]:
    return [line for line in text(status, NOW).splitlines() if line.startswith("fail")]


def test_a_healthy_installation_is_all_ok_in_aligned_lines() -> None:
    status = healthy()
    shown = text(status, NOW).splitlines()
    assert all_ok(status, NOW) and marked(status) == []
    start = 5 + len("queue support") + 2  # after the longest label
    assert all(line[start - 2 : start] == "  " and line[start] != " " for line in shown)
    details = {line[5:start].strip(): line[start:] for line in shown}
    assert set(details) == {
        "temporal", "queue threads", "queue support", "smtp",
        "imap", "backlog", "threads", "last error",
    }  # fmt: skip
    assert "3 open, 1 escalated, 0 awaiting approval, 2 needing a human" in details["threads"]
    assert "last fetch 0 s ago" in text(status, NOW)
    assert "none: no workflow failed" in text(status, NOW)


def test_a_queue_nobody_polls_is_marked_with_its_fix() -> None:
    status = healthy()
    unserved = QueueStatus("mailroom-support-queue", "support", 0, 0, False, "start a worker")
    status = replace(status, queues=[status.queues[0], unserved])
    assert not all_ok(status, NOW)
    assert marked(status) == [
        "fail queue support  mailroom-support-queue: 0 workflow, 0 activity pollers "
        "— fix: start a worker"
    ]


def test_silent_smtp_an_old_backlog_and_a_late_source_are_marked() -> None:
    late = SourceStatus("sales@imap:993/INBOX", "sales@x", NOW - timedelta(minutes=25), 600.0)
    never = SourceStatus("ops@imap:993/INBOX", "ops@x", None, 600.0)
    status = replace(
        healthy(),
        smtp_listening=False,
        backlog=BacklogStatus("mailroom-threads", 4, 42.0, 10.0),
        sources=[late, never],
    )
    shown = "\n".join(marked(status))
    assert "nothing greets on 127.0.0.1:2525" in shown
    assert "4 waiting for a thread on mailroom-threads, oldest 42 s (over the bound of 10 s)" in (
        shown
    )
    assert "last fetch 25 min ago (late: over 10 min)" in shown
    assert "ops@imap:993/INBOX → ops@x: never fetched" in shown
    assert len(marked(status)) == 4


def test_a_young_backlog_is_shown_but_not_marked() -> None:
    status = replace(healthy(), backlog=BacklogStatus("mailroom-threads", 2, 3.0, 10.0))
    assert all_ok(status, NOW)
    assert "2 waiting for a thread on mailroom-threads, oldest 3 s" in text(status, NOW)


def test_the_last_error_is_shown_escaped_and_never_marks_a_failure() -> None:
    error = LastError(
        "thread-support-1\x1b[2J", "ThreadWorkflow", "TERMINATED", NOW - timedelta(hours=3),
        "reset by\x07 operator\n",
    )  # fmt: skip
    status = replace(healthy(), last_error=error)
    shown = text(status, NOW)
    assert all_ok(status, NOW)
    assert (
        "ThreadWorkflow thread-support-1\\x1b[2J terminated 3 h ago: reset by\\x07 operator\\x0a"
        in (shown)
    )
    assert "\x1b" not in shown and "\x07" not in shown


def test_stage_counts_are_said_to_be_off_without_search_attributes() -> None:
    status = replace(healthy(), threads=ThreadCounts(open=5))
    assert "5 open (by stage: not counted, search attributes off or not registered)" in text(
        status, NOW
    )


def test_json_is_one_object_with_the_problems_listed() -> None:
    status = replace(healthy(), backlog=BacklogStatus("mailroom-threads", 4, 42.0, 10.0))
    report = json.loads(json.dumps(as_json(status, NOW)))
    assert report["ok"] is False
    assert report["problems"] == [
        "backlog: 4 waiting for a thread on mailroom-threads, oldest 42 s (over the bound of 10 s)"
    ]
    assert report["backlog"] == {
        "queue": "mailroom-threads",
        "waiting": 4,
        "oldest_seconds": 42.0,
        "bound_seconds": 10.0,
        "old": True,
    }
    assert report["threads"] == {
        "open": 3, "escalated": 1, "awaiting_approval": 0, "needs_human": 2
    }  # fmt: skip
    assert report["imap"][0]["last_fetch"] == NOW.isoformat()
    assert report["imap"][0]["late"] is False and report["last_error"] is None
    assert report["queues"][0]["served"] is True


def test_durations_read_as_an_operator_says_them() -> None:
    assert [ago(s) for s in (0, 59, 60, 3599, 7200, 2 * 86400 + 5)] == [
        "0 s", "59 s", "1 min", "59 min", "2 h", "2 d"
    ]  # fmt: skip


def test_a_worker_not_seen_polling_lately_counts_as_gone() -> None:
    def seen(*ages: int) -> DescribeTaskQueueResponse:
        infos = []
        for age in ages:
            at = Timestamp()
            at.FromDatetime(NOW - timedelta(seconds=age))
            infos.append(PollerInfo(last_access_time=at, identity=f"worker-{age}"))
        return DescribeTaskQueueResponse(pollers=infos)

    counted = pollers("q", (seen(5, 600), seen(400)), NOW)
    assert (counted.workflow_pollers, counted.activity_pollers) == (1, 0)


def test_a_source_is_late_after_three_waits_and_never_before_ten_minutes() -> None:
    polling = parse_source("imaps://u:p@imap.example.com/INBOX?mailbox=a@x&idle=false&poll=600")
    idling = parse_source("imaps://u:p@imap.example.com/INBOX?mailbox=a@x")
    quick = parse_source("imaps://u:p@imap.example.com/INBOX?mailbox=a@x&idle=false&poll=5")
    assert source_status(polling, NOW).late_after_seconds == 1800
    assert source_status(idling, NOW).late_after_seconds == 3 * 9 * 60
    assert source_status(quick, NOW).late_after_seconds == 600
    assert "p@" not in source_status(polling, None).source  # never the password
