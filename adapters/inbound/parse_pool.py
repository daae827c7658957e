"""Parsing big mail in worker processes, each mail within a budget of CPU time.

A thread does not keep a pure-Python parse off the event loop: it holds the GIL, and the
loop waits up to the switch interval (5 ms) every time it wants it back, several times per
SMTP command (docs/performance.md has the figures). Worker processes do, and a budget of
CPU time (ITIMER_PROF, which counts only the worker's own CPU, so load elsewhere does not
shorten it) ends a pathological parse: the mail is parsed again with its HTML only stripped
of tags (linear), and if even that runs out, from its header alone (at most 256 KB of it,
within a third budget), and past that from its Message-ID alone. Either way it becomes a
valid InboundEmail with a defect saying so; nothing is refused, and the raw mail is kept as
a blob by ingest. A worker that dies (killed, out of memory) is replaced and its mail tried
once more; a mail under which workers die twice is parsed from its header here, in a thread
no budget can stop: bounded because every header is read in linear time (the parameter
headers are cut, mime_params.py; 256 KB of the worst header costs about 0.05-0.4 s).

Workers come from a fork server (a clean process started once, which imports the parser;
forking the adapter itself would copy the Temporal client's threads and locks), on the first
big mail. `close()` waits for the mail being parsed (at most about three budgets) and stops
them; after it, and with `workers=0`, big mail is parsed in a thread, without a budget.

The fork server and its workers ignore SIGTERM and SIGINT: a stop sent to the whole process
group or cgroup (Ctrl-C, systemd's KillMode=control-group, supervisord's killasgroup) must
leave them parsing the mail in flight while the adapter drains; the adapter stops them itself
(`close()`, SIGKILL past a grace period). They die with it too: the fork server exits once the
adapter is gone (multiprocessing's "alive" pipe), and each worker is SIGKILLed once the fork
server is (PR_SET_PDEATHSIG), so even a SIGKILLed adapter leaves no worker behind. A worker or
fork server that cannot be started or reached counts as a worker death, never a failed mail.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from types import FrameType

from adapters.inbound.html_text import plain_html_only
from adapters.inbound.mime import MAX_DEFECTS, generated_message_id, parse_email, unread_email
from use_cases.mail import InboundEmail

Parse = Callable[[bytes], InboundEmail]

# Of a header cut at this size by the last resort; a real header is a few KB.
HEADER_ONLY_MAX_BYTES = 256 * 1024
WORKER_NICENESS = 10
# A worker that dies takes every mail it was sent with it: each is tried once more on fresh
# workers; a mail that kills those too is read from its header.
WORKER_DEATHS_PER_MAIL = 2


# Signals a stop of the whole process group or cgroup sends; the adapter alone handles them.
GROUP_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
PR_SET_PDEATHSIG = 1
# Past the budgets of the mail in flight, what `close()` gives workers to finish under load.
CLOSE_GRACE_SECONDS = 5.0
# The process that imported this module first: in a worker, the fork server that preloaded it
# (a worker forks from it with this module imported), so a worker can tell it outlived it.
_IMPORTED_BY_PID = os.getpid()


class CpuBudgetExceeded(BaseException):
    """Raised in a worker when its mail has used its CPU time. A BaseException: the parser's
    own `except Exception` fallbacks must not catch it and carry on."""


_armed = False


def _on_cpu_budget(_signum: int, _frame: FrameType | None) -> None:
    if _armed:  # a signal that arrives after the mail finished is not its business
        raise CpuBudgetExceeded


def _start_worker() -> None:
    # Ctrl-C and a group's SIGTERM reach every process: the adapter stops its workers itself.
    for stop in GROUP_STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    _die_with_fork_server()
    # A parse can wait; the adapter's event loop, on the same cores, answers every client.
    os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGPROF, _on_cpu_budget)


def _die_with_fork_server() -> None:
    """SIGKILL (the only stop a worker does not ignore) once its fork server exits, which it
    does once the adapter is gone: a worker never outlives the adapter, even a SIGKILLed one."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    forked_from_fork_server = os.getpid() != _IMPORTED_BY_PID
    if forked_from_fork_server and os.getppid() != _IMPORTED_BY_PID:
        os._exit(0)  # it exited before the line above: the death signal would never come
    # Each child of the fork server inherits the write end of its "adapter alive" pipe (to
    # start processes of its own): held here, it would keep the fork server, and so this
    # worker, alive forever after the adapter dies.
    fork_server = getattr(multiprocessing.forkserver, "_forkserver", None)
    alive_fd = getattr(fork_server, "_forkserver_alive_fd", None)
    if isinstance(alive_fd, int):
        os.close(alive_fd)
        fork_server._forkserver_alive_fd = None  # type: ignore[union-attr]


@contextmanager
def _group_stops_blocked() -> Iterator[None]:
    """Starts a fork server (an exec'd process: only a blocked or ignored disposition survives
    exec) deaf to a group's stop, as multiprocessing's resource tracker is started. Blocked in
    this thread only for the call: a stop meant for the adapter waits, it is not lost."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _within_budget(parse: Parse, cpu_seconds: float, raw: bytes) -> InboundEmail:
    global _armed
    _armed = True
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    try:
        return parse(raw)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        _armed = False


def budgeted_parse(raw: bytes, cpu_seconds: float, parse: Parse = parse_email) -> InboundEmail:
    """parse(raw) in at most `cpu_seconds` of CPU, else a cheaper parse (see module)."""
    try:
        return _within_budget(parse, cpu_seconds, raw)
    except CpuBudgetExceeded:
        pass
    why = f"parse ran out of its {cpu_seconds:g} s of CPU"
    try:
        with plain_html_only():
            return with_defect(_within_budget(parse, cpu_seconds, raw), f"{why}: parsed again")
    except CpuBudgetExceeded:
        pass
    why = f"{why} twice"
    try:
        return _within_budget(
            partial(header_only, why=f"{why}: parsed from the header only"), cpu_seconds, raw
        )
    except CpuBudgetExceeded:  # a header the parser reads in linear time, yet too slowly
        return unread_email(raw, f"{why} and its header too: only its Message-ID read")


def header_only(raw: bytes, why: str) -> InboundEmail:
    """The mail as its header alone tells it (no text, no attachments), cheap and bounded;
    its Message-ID, when generated, is the one a full parse gives (retries still dedup)."""
    end = min(_header_end(raw), HEADER_ONLY_MAX_BYTES)
    email = parse_email(raw[:end] + b"\r\n\r\n")
    update: dict[str, object] = {"size": len(raw)}
    if email.message_id_generated:
        update["message_id"] = generated_message_id(raw)
    return with_defect(email.model_copy(update=update), why)


def with_defect(email: InboundEmail, defect: str) -> InboundEmail:
    return email.model_copy(update={"defects": (defect, *email.defects)[:MAX_DEFECTS]})


def _header_end(raw: bytes) -> int:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


class ParsePool:
    """An EmailParser (in-process when called) that parses `off_loop` in its workers.
    `parse` must be importable by name in a worker (a module-level function)."""

    def __init__(self, *, workers: int, cpu_seconds: float, parse: Parse = parse_email) -> None:
        self.workers = workers
        self.cpu_seconds = cpu_seconds
        self.parse = parse
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def __call__(self, raw: bytes) -> InboundEmail:
        return self.parse(raw)

    async def off_loop(self, raw: bytes) -> InboundEmail:
        why = "parser process died twice: parsed from the header only"
        for _attempt in range(WORKER_DEATHS_PER_MAIL):
            if self._closed or self.workers == 0:
                return await asyncio.to_thread(self.parse, raw)
            executor = self._running()
            try:
                # Workers start here, in this thread (the fork server too, on the first mail).
                with _group_stops_blocked():
                    done = executor.submit(budgeted_parse, raw, self.cpu_seconds, self.parse)
            except (BrokenProcessPool, EOFError, OSError):
                # The fork server or a worker died while one was started (EOFError: the fork
                # server hung up): as a worker dying under this mail, on fresh ones.
                self._replace(executor)
                continue
            except RuntimeError:  # closed meanwhile (cannot schedule new futures)
                continue
            try:
                return await asyncio.wrap_future(done)
            except BrokenProcessPool:  # a worker died under this mail or another: try again
                self._replace(executor)
            except CpuBudgetExceeded:  # the budget's signal came as the worker returned
                why = f"parse ran out of its {self.cpu_seconds:g} s of CPU: from the header only"
                break
        return await asyncio.to_thread(header_only, raw, why)

    async def close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            grace = 3 * self.cpu_seconds + CLOSE_GRACE_SECONDS
            await asyncio.to_thread(_stop_workers, executor, grace)

    def worker_pids(self) -> list[int]:
        """This pool's worker processes. Every pool of a process shares one fork server, so
        its children are not all this pool's."""
        executor = self._executor
        workers = _workers(executor) if executor is not None else []
        return [worker.pid for worker in workers if worker.pid is not None]

    def _running(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker
            )
            # A pool nobody closed (a test's wiring, a CLI error path) lets its workers go
            # once it is dropped, not at interpreter exit.
            weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)
        return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:
            self._executor = None
            workers = _workers(broken)
            broken.shutdown(wait=False, cancel_futures=True)
            # Its surviving workers ignore the SIGTERM the executor ends a broken pool with.
            _kill(workers)


def _stop_workers(executor: ProcessPoolExecutor, grace_seconds: float) -> None:
    """Lets the mail in flight finish within `grace_seconds`, then SIGKILLs what is left (a
    mail it was parsing is parsed in the adapter, as after any worker death)."""
    workers = _workers(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_seconds
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    _kill(workers)
    for worker in workers:
        worker.join()


def _kill(workers: list[multiprocessing.process.BaseProcess]) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.kill()


def _workers(executor: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    # The executor's own record of its processes (no public one), gone once it is shut down.
    processes: dict[int, multiprocessing.process.BaseProcess] | None = getattr(
        executor, "_processes", None
    )
    return list((processes or {}).values())
