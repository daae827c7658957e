"""How a process group keeps its children running: a child that cannot be started again
(fork failing under memory pressure or RLIMIT_NPROC: EAGAIN) must not leave its share of the
port black-holed (the parent keeps that socket: its connections queue, never accepted) with
nobody told: the group retries, then gives up (mailroom exits 1)."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from orchestrator import restart_policy
from orchestrator.process_group import GroupGaveUp, ProcessGroup
from orchestrator.process_roles import smtp_role
from orchestrator.restart_policy import MAX_EXITS
from orchestrator.settings import Settings
from tests.support import free_port, wait_for


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILROOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILROOM_SMTP_PORT", str(free_port()))
    # SMTP connects lazily: no Temporal is needed for it to serve (it answers 451)
    monkeypatch.setenv("MAILROOM_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    return Settings()


async def test_a_child_that_cannot_be_started_again_is_retried_then_given_up(
    smtp_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = ProcessGroup([smtp_role(smtp_env, 1)])
    async with AsyncExitStack() as stack:
        await group.start(stack)
        slot = group.slots[0]
        assert slot.process is not None and group.gave_up is not None
        first = slot.process
        attempts = 0

        async def fork_fails(*args: Any, **kwargs: Any) -> Any:
            nonlocal attempts
            attempts += 1
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

        monkeypatch.setattr(asyncio, "create_subprocess_exec", fork_fails)
        os.kill(first.pid, signal.SIGKILL)
        await wait_for(lambda: group.gave_up.done(), what="the group to give up")  # type: ignore[union-attr]
        assert attempts == MAX_EXITS - 1, "each failed start counts as an exit, retried"
        with pytest.raises(GroupGaveUp, match="could not be started"):
            group.gave_up.result()


async def test_a_child_ending_once_a_stop_is_requested_is_not_restarted(
    smtp_env: Settings,
) -> None:
    # systemd (KillMode=control-group) SIGTERMs the parent and its children at once; the parent
    # stops its own parts first (SMTP drains up to 15 s) before it stops the group.
    stop = asyncio.Event()
    group = ProcessGroup([smtp_role(smtp_env, 1)])
    async with AsyncExitStack() as stack:
        await group.start(stack, stop)
        slot = group.slots[0]
        assert slot.process is not None
        first = slot.process
        stop.set()  # what the parent's SIGTERM handler does
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 30) == 0
        await wait_for(lambda: group.keepers[0].done(), what="the keeper to end")
        assert slot.process is first, "not restarted"


async def test_a_child_failing_while_it_starts_again_is_retried_without_giving_up(
    smtp_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restart_policy, "FIRST_RESTART_PAUSE_SECONDS", 0.01)
    group = ProcessGroup([smtp_role(smtp_env, 1)])
    async with AsyncExitStack() as stack:
        await group.start(stack)
        slot = group.slots[0]
        assert slot.process is not None and group.gave_up is not None
        # From now on the child refuses to start (as when a setting it needs is bad).
        slot.role.env["MAILROOM_NO_SUCH_SETTING"] = "1"
        slot.process.kill()
        await wait_for(
            lambda: slot.restarts.unready_in_a_row > MAX_EXITS,
            what="more start-up failures than the crash-loop limit",
            timeout=60,
        )
        assert not group.gave_up.done()
