"""Review of issue 19's process group: a child that cannot be started again (fork failing
under memory pressure or RLIMIT_NPROC: EAGAIN) must not leave its share of the port
black-holed (the parent keeps that socket: its connections queue and are never accepted)
with nobody told: the group retries, or gives up (mailroom exits 1)."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from orchestrator.process_group import GroupGaveUp, ProcessGroup
from orchestrator.process_roles import smtp_role
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


async def test_a_child_that_cannot_be_started_again_is_retried_or_given_up(
    smtp_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = ProcessGroup([smtp_role(smtp_env, 1)])
    async with AsyncExitStack() as stack:
        await group.start(stack)
        slot = group.slots[0]
        assert slot.process is not None
        first = slot.process

        async def fork_fails(*args: Any, **kwargs: Any) -> Any:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

        monkeypatch.setattr(asyncio, "create_subprocess_exec", fork_fails)
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        assert group.gave_up is not None
        keeper = group.keepers[0]
        await wait_for(lambda: keeper.done() or group.gave_up.done(), what="restart attempt")  # type: ignore[union-attr]
        await asyncio.sleep(0)
        # The keeper died of the OSError: the slot is never restarted and nothing says so.
        assert not keeper.done() or group.gave_up.done(), repr(keeper.exception())
        if group.gave_up.done():
            with pytest.raises(GroupGaveUp):
                group.gave_up.result()
