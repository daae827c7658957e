"""What `--processes N` (`mailroom smtp`, `mailroom worker`) and `--workers N` /
`--smtp-processes N` (`mailroom up`) run: the roles of a ProcessGroup (process_group.py).

SMTP processes share the port through SO_REUSEPORT sockets the parent binds, one per process
(Linux): the kernel hashes each new connection to one of them, so connections spread evenly
with no process woken for a connection another takes (a single shared socket wakes every
process on each connection). The parent keeps its copy of each socket while the child runs,
so connections queued on a process that dies wait for its replacement instead of being reset,
and a port in use is reported once, by the parent. Elsewhere (SO_REUSEPORT does not balance
on BSD or macOS) every process accepts from one shared socket: a pre-fork listener.

Admission is per process, so the limits that bound a total are split: each SMTP process gets
1/N of the connections, DATA transfers, hand-offs in flight, pending bytes and per-client
counts and rates, and a split that could not hold the total is refused at start
(docs/configuration.md#several-processes-per-role). The Temporal backlog
check and the disk reserve are shared already: every process asks Temporal and the disk."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from contextlib import AsyncExitStack

from orchestrator.cli_errors import CliError
from orchestrator.metrics import child_metrics
from orchestrator.process_group import ProcessGroup
from orchestrator.process_slots import Role
from orchestrator.settings import ENV_PREFIX, Settings
from orchestrator.startup_checks import StartupError, bind_error

MAX_PROCESSES = 64
# The kernel's queue of connections not yet accepted, per socket (asyncio's default).
LISTEN_BACKLOG = 100
# Admission totals each SMTP process gets 1/N of (orchestrator/services.py front_door).
SPLIT_LIMITS = (
    "smtp_max_connections",
    "smtp_max_connections_per_client",
    "smtp_max_data_transfers",
    "smtp_max_pending_bytes",
    "smtp_threads_per_client_per_minute",
    "max_in_flight",
)


def process_count(text: str | None, option: str) -> int:
    """`--processes`' value: a whole number from 1 to MAX_PROCESSES (None: 1)."""
    if text is None:
        return 1
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PROCESSES:
        raise CliError(f"{option} {text!r}: give a whole number from 1 to {MAX_PROCESSES}")
    return count


def limit_shares(settings: Settings, count: int) -> dict[str, str]:
    """The environment that gives one of `count` SMTP processes its share of each total
    (0, no limit, stays 0). N shares never add up to more than the total, so a total under
    `count` (a share of 0) is refused, and so is a pending-bytes share under the message size
    limit: one mail alone is always taken, so such a process would hold more than its share."""
    shares = {}
    for name in SPLIT_LIMITS:
        total = int(getattr(settings, name))
        if 0 < total < count:
            raise CliError(
                f"{ENV_PREFIX}{name.upper()}={total} cannot be split over {count} SMTP "
                f"processes: set it to at least {count}, or run fewer processes"
            )
        shares[f"{ENV_PREFIX}{name.upper()}"] = str(total // count)
    pending, largest = settings.smtp_max_pending_bytes, settings.max_message_bytes
    if pending // count < largest:
        raise CliError(
            f"{ENV_PREFIX}SMTP_MAX_PENDING_BYTES ({_mib(pending)}) split over {count} SMTP "
            f"processes is {_mib(pending // count)} each, under {ENV_PREFIX}MAX_MESSAGE_BYTES "
            f"({_mib(largest)}): set it to at least {_mib(count * largest)}, lower the message "
            "size, or run fewer processes"
        )
    return shares


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size % 2**20 == 0 else f"{size} bytes"


def worker_role(count: int, flows: str | None) -> Role:
    argv = ["worker"] + (["--flows", flows] if flows else [])
    return Role("worker", count, argv)


def smtp_role(settings: Settings, count: int) -> Role:
    """`count` SMTP processes, their listening sockets bound here (StartupError if taken)."""
    ports = [("MAILROOM_SMTP", settings.smtp_port)]
    if settings.submission_port and settings.smtp_tls_cert is not None:
        ports.append(("MAILROOM_SUBMISSION", settings.submission_port))
    shares = limit_shares(settings, count)  # refused before any socket is bound
    balanced = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    sockets: list[list[socket.socket]] = []
    try:
        for slot in range(count):
            if balanced or slot == 0:
                sockets.append(
                    [
                        listening(settings.smtp_host, port, prefix, balanced)
                        for prefix, port in ports
                    ]
                )
            else:
                sockets.append(sockets[0])
    except StartupError:
        for bound in sockets:
            for sock in bound:
                sock.close()
        raise
    return Role("smtp", count, ["smtp"], shares, sockets)


def listening(host: str, port: int, setting: str, reuse_port: bool) -> socket.socket:
    """A listening socket on the first address of `host` (as the start-up check binds)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise StartupError(f"{setting}_HOST: cannot resolve {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # as asyncio's create_server: IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)  # in the kernel's group from now: connections queue
    except OSError as exc:
        sock.close()
        raise StartupError(bind_error(host, port, exc).format(setting=setting)) from None
    return sock


def requested_processes(args: argparse.Namespace) -> dict[str, int]:
    """The roles a serving command runs as several processes, and how many of each; a bad
    count is a CliError (one line, exit 2)."""
    if args.command == "up":
        counts = {
            "worker": process_count(args.workers, "--workers"),
            "smtp": process_count(args.smtp_processes, "--smtp-processes"),
        }
    else:
        counts = {args.command: process_count(getattr(args, "processes", None), "--processes")}
    return {role: count for role, count in counts.items() if count > 1}


def process_group(
    settings: Settings, counts: dict[str, int], flows: str | None, parts: set[str] | None = None
) -> ProcessGroup | None:
    """The child processes for `counts` (requested_processes); None when there are none.
    Workers first: `mailroom up` announces them before SMTP, as with one process. `parts`:
    the command's, for where its children serve metrics (metrics.child_metrics)."""
    roles = []
    if "worker" in counts:
        roles.append(worker_role(counts["worker"], flows))
    if "smtp" in counts:
        roles.append(smtp_role(settings, counts["smtp"]))
    if not roles:
        return None
    children = sum(role.count for role in roles)
    return ProcessGroup(roles, child_metrics(settings, parts or set(), children))


def add_process_option(command: argparse.ArgumentParser, option: str, role: str) -> None:
    """A count option, validated by requested_processes (argparse's own errors print the
    usage too, and a CLI error is one line)."""
    command.add_argument(
        option,
        metavar="N",
        help=f"run N {role} processes (1 to {MAX_PROCESSES}, default 1)",
    )


async def supervise(group: ProcessGroup) -> None:
    """Run `group` alone (`mailroom smtp --processes N`: this process serves nothing itself)
    until SIGINT or SIGTERM, then stop it; raises GroupGaveUp if a child crash-loops."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as stack:
        await group.start(stack, stop)
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(group.watch())]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
