"""`mailroom up` off a terminal: every line of its stderr, the SDK's and the activities'
included, is one JSON object at MAILROOM_LOG_LEVEL, activity lines with their workflow's ids."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_processes import bare_env, mailroom, question
from tests.stack import send_mail
from tests.support import free_port, run_mailroom, wait_for

pytestmark = pytest.mark.slow


async def acknowledged(env: dict[str, str]) -> bool:
    code, out, _ = await run_mailroom("outbox", "--json", env=env)
    return code == 0 and any(e["message_id"].startswith("<ack-") for e in json.loads(out))


async def lines_of_one_answered_mail(tmp_path: Path, level: str) -> list[dict[str, Any]]:
    smtp_port = free_port()
    env = {
        **bare_env(tmp_path),
        "MAILROOM_TEMPORAL_PORT": str(free_port()),
        "MAILROOM_TEMPORAL_UI_PORT": str(free_port()),
        "MAILROOM_SMTP_PORT": str(smtp_port),
        "MAILROOM_ACK_DELAY": "0",
        "MAILROOM_LOG_LEVEL": level,
    }
    del env["MAILROOM_TEMPORAL_ADDRESS"]  # the embedded server
    async with mailroom(env, "up") as up:
        await asyncio.to_thread(
            send_mail, smtp_port, question(1), ["support@mailroom.local"], "customer1@example.com"
        )
        await wait_for(lambda: acknowledged(env), what="the answer", timeout=60)
        os.kill(up.process.pid, signal.SIGTERM)
        assert await asyncio.wait_for(up.process.wait(), 60) == 0
        return [json.loads(line) for line in up.log.read_text().splitlines()]


async def test_activity_and_sdk_info_lines_are_json_with_their_workflow_id(
    tmp_path: Path,
) -> None:
    lines = await lines_of_one_answered_mail(tmp_path, "info")
    sent = [line for line in lines if line.get("activity_type") == "send_email"]
    assert sent and all(line["level"] == "info" for line in sent)
    assert sent[0]["workflow_id"].startswith("thread-support@mailroom.local-")
    assert sent[0]["task_queue"] and sent[0]["workflow_run_id"]
    assert any(line.get("logger", "").startswith("temporalio.worker") for line in lines)
    assert any(line["event"] == "email_accepted" for line in lines), "mailroom's own lines"


async def test_no_info_line_at_warning(tmp_path: Path) -> None:
    lines = await lines_of_one_answered_mail(tmp_path, "warning")
    assert all(line["level"] != "info" for line in lines)
