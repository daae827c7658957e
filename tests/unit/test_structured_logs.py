"""Every log line of a mailroom process is one JSON object off a terminal, at the configured
level: mailroom's own (structlog), the Temporal SDK's, the activity logger's (stdlib)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT

# A process logging as `mailroom` does (orchestrator.logs), from each source once.
LOGS_FROM_EACH_SOURCE = """
import asyncio, dataclasses, logging, sys
import structlog
from temporalio import activity
from temporalio.testing import ActivityEnvironment
from orchestrator.logs import configure_logging

@activity.defn(name="send_reply")
async def send_reply() -> None:
    activity.logger.info("reply %s sent", "<r1@x>", extra={"thread_id": "t-1"})
    structlog.get_logger().info("adapter_line_in_activity")

configure_logging(sys.argv[1])
structlog.get_logger().info("mailroom_line", thread_id="t-1")
logging.getLogger("temporalio.worker").info("sdk info line")
logging.getLogger("temporalio.worker").warning("sdk warning line")
worker = ActivityEnvironment()
worker.info = dataclasses.replace(worker.info, activity_type="send_reply", workflow_id="thread-1")
asyncio.run(worker.run(send_reply))
"""


def lines_logged_at(level: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", LOGS_FROM_EACH_SOURCE, level],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stderr.splitlines()]


def test_sdk_and_activity_info_lines_are_json_with_their_temporal_fields_at_info() -> None:
    lines = {line["event"]: line for line in lines_logged_at("info")}
    assert lines["sdk info line"]["level"] == "info"
    assert lines["sdk info line"]["logger"] == "temporalio.worker"
    activity_line = lines["reply <r1@x> sent"]  # no SDK dict appended to the message
    assert activity_line["level"] == "info"
    assert activity_line["activity_type"] == "send_reply"
    assert activity_line["workflow_id"] == "thread-1"
    assert activity_line["task_queue"] == "test"  # ActivityEnvironment's default
    assert activity_line["thread_id"] == "t-1"
    assert "timestamp" in activity_line


def test_mailroom_lines_keep_their_shape() -> None:
    lines = {line["event"]: line for line in lines_logged_at("info")}
    assert set(lines["mailroom_line"]) == {"event", "level", "timestamp", "thread_id"}


def test_a_mailroom_line_inside_an_activity_names_the_activity_and_its_workflow() -> None:
    line = {line["event"]: line for line in lines_logged_at("info")}["adapter_line_in_activity"]
    assert (line["workflow_id"], line["activity_type"]) == ("thread-1", "send_reply")


def test_info_lines_are_left_out_at_warning() -> None:
    events = [line["event"] for line in lines_logged_at("warning")]
    assert events == ["sdk warning line"]
