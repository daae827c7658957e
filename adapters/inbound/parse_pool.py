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
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import weakref
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


class CpuBudgetExceeded(BaseException):
    """Raised in a worker when its mail has used its CPU time. A BaseException: the parser's
    own `except Exception` fallbacks must not catch it and carry on."""


_armed = False


def _on_cpu_budget(_signum: int, _frame: FrameType | None) -> None:
    if _armed:  # a signal that arrives after the mail finished is not its business
        raise CpuBudgetExceeded


def _start_worker() -> None:
    # A parse can wait; the adapter's event loop, on the same cores, answers every client.
    os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGPROF, _on_cpu_budget)
    # Ctrl-C reaches the whole process group: the adapter stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
                done = executor.submit(budgeted_parse, raw, self.cpu_seconds, self.parse)
                return await asyncio.wrap_future(done)
            except BrokenProcessPool:  # a worker died under this mail or another: try again
                self._replace(executor)
            except RuntimeError:  # closed meanwhile (cannot schedule new futures)
                continue
            except CpuBudgetExceeded:  # the budget's signal came as the worker returned
                why = f"parse ran out of its {self.cpu_seconds:g} s of CPU: from the header only"
                break
        return await asyncio.to_thread(header_only, raw, why)

    async def close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

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
            broken.shutdown(wait=False, cancel_futures=True)
