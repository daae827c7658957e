"""Two `mailroom imap` daemons on one mailbox (issue 18): only the holder of the lane
`imap:<source>` polls; when it is killed, the other takes over within the lease, and every
mail is handed off once. A real Dovecot, a real Temporal dev server, and a worker in this
process serving the threads and the coordinator. The daemons share the data directory, and
so the checkpoint, as nodes share it in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from orchestrator.bootstrap import bootstrap, coordinator, gateway
from orchestrator.services import IMAP_CHECKPOINTS, start_imap, start_worker
from tests.dovecot import Dovecot
from tests.integration.imap_support import (
    MAILBOX,
    append_all,
    cli_env,
    daemon_process,
    equal,
    holds,
    mail,
    message_ids,
    thread_of,
)
from tests.stack import stack_settings
from tests.support import wait_for
from use_cases.coordinator import LaneView

LEASE = 3.0
MARGIN = 3.0  # the coordinator's lease timer, and the standby's next ask (every lease/3)

Daemon = subprocess.Popen[bytes]


async def test_two_daemons_on_one_mailbox_one_polls_the_other_takes_over_when_it_is_killed(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    before = [mail(f"Before {n}") for n in range(5)]
    after = [mail(f"After {n}") for n in range(5)]
    url = dovecot.url(mailbox=MAILBOX, start="all")
    source_key = parse_source(url).key
    client = dev_server.client
    wiring = bootstrap(stack_settings(tmp_path, client, task_queue))
    env = cli_env(wiring.settings.temporal_target, task_queue, tmp_path, url)
    env["MAILROOM_IMAP_LEASE_SECONDS"] = str(LEASE)
    coordinating = coordinator(wiring.settings, client)
    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)

    async def lane() -> LaneView | None:
        shown = await coordinating.view()
        found = [v for v in shown.lanes if v.lane == f"imap:{source_key}"] if shown else []
        return found[0] if found else None

    async def holder_and_standby() -> LaneView | None:
        view = await lane()
        return view if view and len(view.holders) == 1 and len(view.queue) == 1 else None

    async def held_by(daemon: Daemon) -> bool:
        view = await lane()
        return view is not None and [_pid_of(item) for item in view.holders] == [daemon.pid]

    def checkpoint_at(last_uid: int) -> bool:
        saved = checkpoints.load(source_key)
        return saved is not None and saved.last_uid == last_uid

    async with AsyncExitStack() as stack:
        await start_worker(wiring, client, stack)
        logs = {n: tmp_path / f"daemon-{n}.log" for n in (1, 2)}
        daemons: dict[int, tuple[Daemon, Path]] = {}
        for log in logs.values():
            daemon = daemon_process(env, log)
            daemons[daemon.pid] = (daemon, log)
        stack.push_async_callback(_stop_all, [d for d, _ in daemons.values()])
        await asyncio.to_thread(append_all, dovecot, [raw for _, raw in before])

        view = await wait_for(holder_and_standby, timeout=30, what="a holder and a standby")
        holder, holder_log = daemons[_pid_of(view.holders[0])]
        standby, standby_log = daemons[_pid_of(view.queue[0])]
        await wait_for(partial(checkpoint_at, len(before)), timeout=30, what="mail before")
        assert "imap_lane_go" in _events(holder_log)
        assert "imap_lane_standby" in _events(standby_log)
        assert "imap_connected" not in _events(standby_log)  # it never logged in to poll

        holder.send_signal(signal.SIGKILL)  # no clean stop: its lease has to lapse
        await asyncio.to_thread(holder.wait, 10)
        killed = time.monotonic()
        await asyncio.to_thread(append_all, dovecot, [raw for _, raw in after])
        await wait_for(
            partial(held_by, standby), timeout=LEASE + MARGIN, what="a takeover within the lease"
        )
        took_over = time.monotonic() - killed

        await wait_for(partial(checkpoint_at, len(before) + len(after)), what="mail after")
        threads = gateway(wiring, client)
        for message_id, raw in before + after:
            thread_id = thread_of(raw)
            await wait_for(partial(holds, threads, thread_id, [message_id]), what=message_id)
            assert (await threads.get(thread_id)).duplicates_ignored == 0, "handed off twice"
        assert "imap_lane_go" in _events(standby_log)
        await _stop_all([standby])
        assert standby.returncode == 0
        assert "imap_lane_released" in _events(standby_log)  # let go, deregistered
        assert await lane() is None
    assert took_over <= LEASE + MARGIN


async def test_with_exclusive_off_a_daemon_polls_without_the_coordinator(
    dovecot: Dovecot, dev_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    message_id, raw = mail("Polled alone")
    dovecot.append(raw)
    url = dovecot.url(mailbox=MAILBOX, start="all")
    client = dev_server.client
    settings = stack_settings(
        tmp_path, client, task_queue, imap_sources=[url], imap_exclusive=False
    )
    wiring = bootstrap(settings)
    async with AsyncExitStack() as stack:
        await start_worker(wiring, client, stack)
        [adapter] = await start_imap(wiring, client, stack)
        threads = gateway(wiring, client)
        await wait_for(lambda: equal(message_ids(threads, thread_of(raw)), [message_id]))
        assert adapter.status != "standby"
        assert await coordinator(wiring.settings, client).view() is None  # never asked


def _pid_of(item_id: str) -> int:
    return int(item_id.split(":")[2])  # imap:<host>:<pid>:<source key>


def _events(log: Path) -> list[str]:
    lines = log.read_text().splitlines()
    return [json.loads(line)["event"] for line in lines if line.startswith("{")]


async def _stop_all(daemons: list[Daemon]) -> None:
    """SIGTERM, waited for off the loop: the worker on it answers their letting go."""
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            await asyncio.to_thread(daemon.wait, 15)
