"""What a process group (orchestrator/process_group.py) runs: its roles, each child's slot,
and what the children say on stdout (their announce lines, then their ready line)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from orchestrator.process_child import READY_LINE
from orchestrator.process_output import output_lines
from orchestrator.restart_policy import RestartPolicy

log = structlog.get_logger()


@dataclass
class Role:
    """`count` processes running `mailroom <argv>`; `sockets[i]`: what process i inherits
    (the listening sockets of an SMTP process, in LISTEN_FD_OPTION order)."""

    name: str
    count: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    sockets: list[list[socket.socket]] = field(default_factory=list)

    def inherited(self, slot: int) -> list[socket.socket]:
        return self.sockets[slot] if self.sockets else []


@dataclass
class Slot:
    role: Role
    index: int
    process: asyncio.subprocess.Process | None = None
    announced: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: RestartPolicy = field(default_factory=RestartPolicy)
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


async def read_output(slot: Slot, stdout: asyncio.StreamReader) -> None:
    """The child's stdout: its announce lines until READY_LINE, then passed through."""
    async for line in output_lines(stdout):
        if line == READY_LINE:
            slot.ready.set()
            log.info("process_ready", role=slot.role.name, pid=slot.pid)
        elif not slot.ready.is_set():
            slot.announced.append(line)
        else:
            print(line, flush=True)


def announce(roles: Sequence[Role], slots: Sequence[Slot]) -> None:
    """Each role's lines once (every process of a role says the same), the first with
    the count, so `mailroom up`'s readers see the same lines as with one process."""
    for role in roles:
        lines: list[str] = []
        for slot in slots:
            if slot.role is role:
                lines += [line for line in slot.announced if line not in lines]
        for n, line in enumerate(lines):
            print(f"{line} ({role.count} processes)" if n == 0 else line, flush=True)
        pids = [s.pid for s in slots if s.role is role]
        log.info("process_group_ready", role=role.name, pids=pids)
