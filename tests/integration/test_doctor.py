"""`mailroom doctor` checks a real installation: every line ok (exit 0) while a worker and
the SMTP adapter serve; the failing lines, each with its fix, when they do not or the
namespace is wrong (exit 1)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.stack import Stack
from tests.support import free_port, run_mailroom, wait_for

pytestmark = pytest.mark.slow


def doctor_env(tmp_path: Path, dev_server: WorkflowEnvironment, **settings: Any) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    given = {f"MAILROOM_{name.upper()}": str(value) for name, value in settings.items()}
    return {
        **kept,
        "MAILROOM_DATA_DIR": str(tmp_path / "doctor"),
        "MAILROOM_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "MAILROOM_SEARCH_ATTRIBUTES": "true",
        **given,
    }


async def doctor(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    code, out, err = await run_mailroom("doctor", "--json", env=env)
    assert err == "", err
    return code, json.loads(out)


def checks_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


async def test_doctor_says_ok_for_a_serving_installation(
    stack: Stack, dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    s = stack.wiring.settings
    env = doctor_env(
        tmp_path,
        dev_server,
        temporal_namespace=s.temporal_namespace,
        task_queue=s.task_queue,
        queue_prefix=s.queue_prefix,
        smtp_port=s.smtp_port,
    )

    async def all_ok() -> dict[str, Any] | None:
        code, report = await doctor(env)  # pollers show once a worker has polled
        return report if code == 0 and report["ok"] else None

    report = await wait_for(all_ok, timeout=30, what="every doctor check ok")
    names = checks_by_name(report)
    assert {"temporal", "tls", "namespace", "search attributes", "smtp"} <= names.keys()
    assert f"pollers {s.task_queue}" in names
    assert f"pollers {s.queue_prefix}coordinator-queue (coordinator)" in names
    assert any(name.endswith("(procurement)") for name in names)


async def test_doctor_names_what_is_missing_with_the_fix(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    prefix = f"{task_queue}-"  # no other test's worker polls these queues
    env = doctor_env(
        tmp_path, dev_server, task_queue=task_queue, queue_prefix=prefix, smtp_port=free_port()
    )
    code, report = await doctor(env)
    assert code == 1 and not report["ok"]
    checks = checks_by_name(report)
    coordinator = checks[f"pollers {prefix}coordinator-queue (coordinator)"]
    assert not coordinator["ok"] and "mailroom worker" in coordinator["fix"]
    assert checks["temporal"]["ok"] and checks["namespace"]["ok"]
    assert checks["search attributes"]["ok"]
    assert not checks[f"pollers {task_queue}"]["ok"]
    assert "mailroom worker" in checks[f"pollers {task_queue}"]["fix"]
    assert not checks["smtp"]["ok"] and "mailroom smtp" in checks["smtp"]["fix"]


async def test_doctor_names_a_missing_namespace(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = doctor_env(tmp_path, dev_server, temporal_namespace="no-such-namespace")
    code, out, _ = await run_mailroom("doctor", env=env)
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("fail namespace:"))
    assert "no-such-namespace does not exist" in line
    assert "temporal operator namespace create" in line


async def test_doctor_without_temporal_fails_every_line_that_needs_it(tmp_path: Path) -> None:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env = {
        **kept,
        "MAILROOM_DATA_DIR": str(tmp_path / "doctor"),
        "MAILROOM_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MAILROOM_SMTP_PORT": str(free_port()),
    }
    code, report = await doctor(env)
    assert code == 1
    checks = checks_by_name(report)
    assert "MAILROOM_TEMPORAL_ADDRESS" in checks["temporal"]["fix"]
    assert all(not check["ok"] for check in report["checks"])
