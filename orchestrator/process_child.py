"""The child side of a process group (orchestrator/process_group.py): a `mailroom smtp` or
`mailroom worker` started by a supervising `mailroom`, told so by hidden options. It serves
on the listening sockets the parent bound, says on stdout when it is ready, and stops as on
SIGTERM (sessions drained) once the parent is gone, even when the parent was SIGKILLed."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

# The line a child prints on stdout once every part it runs serves; the parent reads it
# (and the announce lines before it) and prints nothing of it.
READY_LINE = "mailroom-process-ready"
PARENT_FD_OPTION = "--parent-fd"
LISTEN_FD_OPTION = "--listen-fd"
# Where the child serves its metrics (orchestrator/metrics.py: child_metrics_address), and
# whether failing to bind is only a warning (`mailroom up`'s default address).
METRICS_ADDRESS_OPTION = "--metrics-address"
METRICS_OPTIONAL_OPTION = "--metrics-optional"


def add_child_options(command: argparse.ArgumentParser, *, listens: bool) -> None:
    """Hidden options the parent passes; an operator never types them."""
    command.add_argument(PARENT_FD_OPTION, type=int, help=argparse.SUPPRESS)
    command.add_argument(METRICS_ADDRESS_OPTION, help=argparse.SUPPRESS)
    command.add_argument(METRICS_OPTIONAL_OPTION, action="store_true", help=argparse.SUPPRESS)
    if listens:
        command.add_argument(
            LISTEN_FD_OPTION, type=int, action="append", default=[], help=argparse.SUPPRESS
        )


@dataclass
class ChildLink:
    """How a supervised process talks to its parent. `sockets`: the listening sockets it
    inherited, the SMTP port's first, then the submission port's when there is one.
    `metrics`: where it serves its metrics and whether it must (None: it serves none)."""

    parent_fd: int
    sockets: tuple[socket.socket, ...] = ()
    metrics: tuple[str, bool] | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ChildLink | None:
        parent_fd: int | None = getattr(args, "parent_fd", None)
        if parent_fd is None:
            return None
        listen_fds: Sequence[int] = getattr(args, "listen_fd", None) or ()
        # Every log line of the process names it: N processes share one stderr.
        structlog.contextvars.bind_contextvars(pid=os.getpid())
        address: str | None = getattr(args, "metrics_address", None)
        optional = bool(getattr(args, "metrics_optional", False))
        metrics = None if address is None else (address, not optional)
        return cls(parent_fd, tuple(socket.socket(fileno=fd) for fd in listen_fds), metrics)

    def ready(self) -> None:
        print(READY_LINE, flush=True)

    def watch_parent(self) -> None:
        """On the running loop: once the parent is gone, SIGTERM this process, which stops it
        as an operator's SIGTERM does. The parent never writes to the pipe it gave us and
        holds its only write end, so the read end becomes readable (EOF) exactly when the
        parent exits, however it died: no orphan keeps serving."""
        loop = asyncio.get_running_loop()

        def parent_gone() -> None:
            loop.remove_reader(self.parent_fd)
            os.kill(os.getpid(), signal.SIGTERM)

        loop.add_reader(self.parent_fd, parent_gone)
