"""N processes per role: a supervising `mailroom` runs N `mailroom smtp` or `mailroom worker`
children (orchestrator/process_child.py is their side) and keeps them running.

- Start: every child is spawned; once each has said it is ready, the announce lines of each
  role are printed once, with the count. A child that exits before it is ready fails the
  start (the others are stopped): its own error line is on stderr above.
- Run: a child that exits unexpectedly is logged and started again after a pause; one that
  crash-loops makes the group give up (the caller stops everything and exits 1): when, is
  orchestrator/restart_policy.py's rule.
- Stop: the parent closes its copies of the listening sockets, SIGTERMs every child (each
  stops as a single-process adapter or worker does: sessions and activities drained), and
  SIGKILLs one still running after CHILD_STOP_TIMEOUT_SECONDS.
- A child that ends once a stop is requested (the caller's stop event, set by its signal
  handler before it stops its own parts) is not restarted.
- A SIGKILLed parent: the children watch a pipe whose only write end the parent holds.

Children run in their own session: a terminal's Ctrl-C reaches the parent alone, which
stops them in order, instead of racing them (a child ending first would be "restarted")."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import NoReturn

import structlog

from orchestrator.cli_errors import CliError
from orchestrator.process_child import (
    LISTEN_FD_OPTION,
    METRICS_ADDRESS_OPTION,
    METRICS_OPTIONAL_OPTION,
    PARENT_FD_OPTION,
)
from orchestrator.process_slots import Role, Slot, announce, read_output
from orchestrator.restart_policy import EXIT_WINDOW_SECONDS, Ending

log = structlog.get_logger()

# Longer than a child's own stop: the SMTP listener's 15 s, then the worker's drain's 15 s.
CHILD_STOP_TIMEOUT_SECONDS = 45.0
# How long an ended child's last output may take to be read (its ready line among it).
LAST_LINES_SECONDS = 1.0


class GroupGaveUp(RuntimeError):
    """A child crash-loops: the whole command stops and exits 1."""


class GroupStartFailed(CliError):
    """A child exited before it was ready (one line, exit 2, as any start-up error)."""


class ProcessGroup:
    def __init__(
        self, roles: Sequence[Role], metrics: Callable[[int], tuple[str, bool]] | None = None
    ) -> None:
        """`metrics`: where the child of each slot number (1, 2, … over every role, workers
        first) serves its metrics and whether it must; None: the children serve none."""
        self.metrics = metrics
        self.roles = list(roles)
        self.slots = [Slot(role, i) for role in roles for i in range(role.count)]
        self.stop_requested = asyncio.Event()  # start() replaces it with the caller's
        self.gave_up: asyncio.Future[None] | None = None
        self.keepers: list[asyncio.Task[None]] = []
        self.parent_read, self.parent_write = -1, -1

    @property
    def role_names(self) -> set[str]:
        return {role.name for role in self.roles}

    @property
    def stopping(self) -> bool:
        """From the moment a stop is requested, before the caller stops its own parts and
        then the group: a child ending meanwhile (systemd SIGTERMs the whole cgroup at once)
        is not restarted."""
        return self.stop_requested.is_set()

    async def start(self, stack: AsyncExitStack, stop: asyncio.Event | None = None) -> None:
        """Spawn every child, wait until each is ready, announce; `stack` stops them.
        `stop`: the caller's stop request (set by its SIGINT/SIGTERM handler)."""
        if stop is not None:
            self.stop_requested = stop
        stack.push_async_callback(self.stop)
        self.gave_up = asyncio.get_running_loop().create_future()
        self.parent_read, self.parent_write = os.pipe()  # both ends close-on-exec
        for slot in self.slots:
            await self._spawn(slot)
        for slot in self.slots:
            await self._until_ready(slot)
        announce(self.roles, self.slots)
        self.keepers = [asyncio.create_task(self._keep_running(s)) for s in self.slots]

    async def watch(self) -> NoReturn:
        """Returns only by raising GroupGaveUp, once a child crash-loops."""
        assert self.gave_up is not None, "start() first"
        await self.gave_up
        raise AssertionError("unreachable")  # gave_up only ever holds an exception

    async def _spawn(self, slot: Slot) -> None:
        role = slot.role
        sockets = role.inherited(slot.index)
        fds = [s.fileno() for s in sockets]
        command = [sys.executable, "-m", "orchestrator.cli", *role.argv]
        command += [PARENT_FD_OPTION, str(self.parent_read)]
        for fd in fds:
            command += [LISTEN_FD_OPTION, str(fd)]
        if self.metrics is not None:
            address, required = self.metrics(self.slots.index(slot) + 1)
            command += [METRICS_ADDRESS_OPTION, address]
            command += [] if required else [METRICS_OPTIONAL_OPTION]
        slot.ready.clear()
        slot.announced = []
        slot.process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **role.env},
            pass_fds=(self.parent_read, *fds),
            start_new_session=True,
        )
        assert slot.process.stdout is not None
        slot.reader = asyncio.create_task(read_output(slot, slot.process.stdout))
        log.info("process_started", role=role.name, slot=slot.index, pid=slot.process.pid)

    async def _until_ready(self, slot: Slot) -> None:
        assert slot.process is not None
        ready = asyncio.ensure_future(slot.ready.wait())
        exited = asyncio.ensure_future(slot.process.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        for waiting in (ready, exited):
            waiting.cancel()
        if not slot.ready.is_set():
            code = await slot.process.wait()
            raise GroupStartFailed(
                f"the {slot.role.name} process (pid {slot.process.pid}) {_how(code)} "
                "while starting: see its error above"
            )

    async def _keep_running(self, slot: Slot) -> None:
        while True:
            ending, code = await self._ending_of(slot)
            if self.stopping:
                return
            pause = slot.restarts.pause_after(ending, time.monotonic())
            if ending is not Ending.UNSTARTED:
                ready = ending is Ending.CRASHED  # else it failed while starting: retried
                log.warning(
                    "process_exited",
                    role=slot.role.name,
                    pid=slot.pid,
                    code=code,
                    ready=ready,
                    restart_in=pause,
                )
            if pause is None:
                self._give_up(slot, code)
                return
            await asyncio.sleep(pause)
            if self.stopping:
                return
            await self._restart(slot)

    @staticmethod
    async def _ending_of(slot: Slot) -> tuple[Ending, int | None]:
        """How the slot's child ended, and its exit code (None: it could not be started)."""
        if slot.process is None:
            return Ending.UNSTARTED, None
        code = await slot.process.wait()
        if slot.reader is not None:  # its last lines first: was it ready?
            await asyncio.wait({slot.reader}, timeout=LAST_LINES_SECONDS)
        return (Ending.CRASHED if slot.ready.is_set() else Ending.UNREADY), code

    async def _restart(self, slot: Slot) -> None:
        """A fork that fails (EAGAIN, EMFILE) leaves the slot empty: counted as an exit, so
        the slot is tried again and a node that cannot start it gives up."""
        role = slot.role.name
        try:
            await self._spawn(slot)
        except OSError as exc:
            slot.process = None
            log.error("process_restart_failed", role=role, slot=slot.index, error=str(exc))
            return
        log.warning("process_restarted", role=role, slot=slot.index, pid=slot.pid)

    def _give_up(self, slot: Slot, code: int | None) -> None:
        how = "could not be started" if code is None else _how(code)
        exits = slot.restarts.recent_crashes
        message = (
            f"the {slot.role.name} process {how}, its {exits}th exit in "
            f"{EXIT_WINDOW_SECONDS:.0f} s: it crash-loops, mailroom stops (see its log)"
        )
        log.error("process_crash_loop", role=slot.role.name, exits=exits, code=code)
        if self.gave_up is not None and not self.gave_up.done():
            self.gave_up.set_exception(GroupGaveUp(message))

    async def stop(self) -> None:
        self.stop_requested.set()
        for keeper in self.keepers:
            keeper.cancel()
        await asyncio.gather(*self.keepers, return_exceptions=True)
        for role in self.roles:  # the port is free once the children close theirs too
            for sockets in role.sockets:
                for sock in sockets:
                    sock.close()
        running = [s.process for s in self.slots if s.process and s.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(_stopped(process) for process in running))
        readers = [slot.reader for slot in self.slots if slot.reader is not None]
        await asyncio.gather(*readers, return_exceptions=True)
        for fd in (self.parent_read, self.parent_write):
            if fd >= 0:
                os.close(fd)
        self.parent_read = self.parent_write = -1
        log.info("process_group_stopped", processes=len(self.slots))


async def _stopped(process: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(process.wait(), CHILD_STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning("process_stop_timed_out", pid=process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _how(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
