"""Receiving one DATA body: aiosmtpd's reading rules, with the body spooled to disk.

aiosmtpd 1.4.6 keeps every line of a DATA in a list until the final dot, so each unfinished
24 MB transfer held about 25 MB, and the heap kept it after. Here the body goes to a
`SpooledTemporaryFile` that rolls over to an unnamed temp file (O_TMPFILE, or unlinked at
once) past `spool_bytes`: a connection holds at most that much memory while it sends, and a
file that has no name is gone from the disk when it is closed, whatever ends the transfer
(end of data, a refusal, a disconnect, a crash).

Kept from aiosmtpd's `smtp_DATA`: lines end at <CR><LF> only, a lone "." ends the data,
a leading dot is removed (RFC 5321 §4.5.2), `data_size_limit` counts the bytes as sent, and
a refusal is answered only after the final dot (RFC 5321 §4.2.5). Added, for a bare <LF>
(a line ending in <LF> alone), as Postfix's `smtpd_forbid_bare_newline`: `reject` refuses
the whole mail (Postfix's `yes`); `normalize` (Postfix 3.9's default) takes it as the end
of a line and stores <CR><LF>. Either way the data ends only at <CR><LF>.<CR><LF>, so the
2023 SMTP smuggling ends (`<LF>.<LF>`, `<CR><LF>.<LF>`...) never end a message early.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

log = structlog.get_logger()

END_OF_DATA = b".\r\n"
WRITE_BYTES = 64 * 1024
# The connection's idle timer restarts each time this much more of the body has arrived, as
# Postfix's smtpd_timeout bounds each read, not the transfer: a 25 MB mail on a slow link
# may take longer than the timeout and is still alive. (aiosmtpd restarts it per command
# only, so a slow body was cut at the timeout.)
PROGRESS_BYTES = 64 * 1024
# And on any read this long after the last restart: a small mail trickling in (a line every
# few seconds) is alive too, though it never reaches 64 KB. One clock read per line.
PROGRESS_SECONDS = 1.0


class DataRefusal(enum.Enum):
    """Why a body is refused; each is answered after the final dot."""

    TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
    TOO_MUCH = "552 5.3.4 Error: too much mail data"
    BARE_LF = "550 5.5.2 Error: bare <LF> received"
    NO_SPACE = "452 4.3.1 Insufficient system storage"
    # The spool could not be made or opened (a missing or unwritable directory): the body
    # is still read to its final dot, never taken for commands, and the sender retries.
    NO_SPOOL = "451 4.3.0 Error: local problem storing the message, try again later"


class BareLf(enum.Enum):
    REJECT = "reject"
    NORMALIZE = "normalize"


@dataclass(frozen=True)
class Spool:
    """Where bodies larger than `memory_bytes` go (None: the system's temp directory)."""

    directory: Path | None = None
    memory_bytes: int = 1024 * 1024


async def receive_data(
    reader: asyncio.StreamReader,
    spool: Spool,
    *,
    size_limit: int | None,
    line_limit: int,
    bare_lf: BareLf = BareLf.REJECT,
    progress: Callable[[], None] | None = None,
) -> bytes | DataRefusal:
    """Read a DATA body up to its final dot: the unstuffed bytes, or why they are refused.
    A lost connection raises (CancelledError from aiosmtpd, or ConnectionResetError).
    `progress` is called every PROGRESS_BYTES received, and on any line PROGRESS_SECONDS
    or more after its last call."""
    directory = str(spool.directory) if spool.directory is not None else None
    with contextlib.ExitStack() as stack:
        body: IO[bytes]
        refusal: DataRefusal | None = None
        try:
            if spool.directory is not None:
                spool.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            body = stack.enter_context(
                tempfile.SpooledTemporaryFile(max_size=spool.memory_bytes, dir=directory)
            )
            if spool.memory_bytes == 0:  # SpooledTemporaryFile reads 0 as "never roll over"
                body.rollover()  # type: ignore[attr-defined]
        except OSError as exc:
            log.error("smtp_spool_unavailable", directory=directory, error=str(exc))
            body, refusal = io.BytesIO(), DataRefusal.NO_SPOOL
        refusal = await _spool_lines(
            reader,
            body,
            size_limit=size_limit,
            line_limit=line_limit,
            bare_lf=bare_lf,
            progress=progress,
            refusal=refusal,
        )
        if refusal is not None:
            return refusal
        body.seek(0)
        return body.read()


async def _spool_lines(
    reader: asyncio.StreamReader,
    body: IO[bytes],
    *,
    size_limit: int | None,
    line_limit: int,
    bare_lf: BareLf,
    progress: Callable[[], None] | None,
    refusal: DataRefusal | None = None,
) -> DataRefusal | None:
    received = 0
    next_progress = PROGRESS_BYTES
    clock = time.monotonic
    next_progress_at = clock() + PROGRESS_SECONDS
    pending = b""  # the start of a line not ended yet (longer than the reader's limit)
    batch: list[bytes] = []  # lines written together: one write per ~64 KB, not per line
    batched = 0
    while True:
        try:
            chunk = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as overrun:
            # No <CR><LF> within the reader's limit (aiosmtpd sets it to the line length
            # limit); the bytes up to it, never half of a <CR><LF>.
            chunk = await reader.read(overrun.consumed)
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("connection closed during DATA") from None
        if not pending and chunk == END_OF_DATA:
            if refusal is None:
                refusal = _write(body, batch)
            return refusal
        received += len(chunk)
        if progress is not None and (received >= next_progress or clock() >= next_progress_at):
            progress()
            next_progress = received + PROGRESS_BYTES
            next_progress_at = clock() + PROGRESS_SECONDS
        if refusal is None and size_limit and received > size_limit:
            refusal = _discard(body, DataRefusal.TOO_MUCH)
        if refusal is None:
            lines: list[bytes] | None
            data = pending + chunk if pending else chunk
            if data.endswith(b"\r\n") and data.find(b"\n", 0, len(data) - 1) < 0:
                lines, pending = [data], b""  # the common case: one whole line
            else:
                lines, pending = _lines(data, bare_lf)
            if lines is None:
                refusal = _discard(body, DataRefusal.BARE_LF)
            elif len(pending) >= line_limit or any(len(line) > line_limit for line in lines):
                refusal = _discard(body, DataRefusal.TOO_LONG)
            else:
                for line in lines:
                    batch.append(line[1:] if line.startswith(b".") else line)
                    batched += len(line)
                if batched >= WRITE_BYTES:
                    refusal = _write(body, batch)
                    batched = 0
        if refusal is not None:  # read on to the final dot, holding nothing
            batch.clear()
            pending = b"" if chunk.endswith(b"\r\n") else b"-"


def _write(body: IO[bytes], batch: list[bytes]) -> DataRefusal | None:
    try:
        body.write(b"".join(batch))
    except OSError:  # the disk is full: answered 452 after the final dot
        return _discard(body, DataRefusal.NO_SPACE)
    finally:
        batch.clear()
    return None


def _lines(data: bytes, bare_lf: BareLf) -> tuple[list[bytes] | None, bytes]:
    """The whole lines in `data`, each ending <CR><LF>, and the rest (a line not ended);
    None for the lines when a bare <LF> is refused."""
    if b"\n" not in data[:-1]:  # the common case: one line, or part of one
        return ([data], b"") if data.endswith(b"\r\n") else ([], data)
    if bare_lf is BareLf.REJECT:
        return None, b""
    *ended, rest = data.split(b"\n")
    return [line + b"\n" if line.endswith(b"\r") else line + b"\r\n" for line in ended], rest


def _discard(body: IO[bytes], refusal: DataRefusal) -> DataRefusal:
    """Give back the memory or disk a refused body holds while the rest is read."""
    body.seek(0)
    body.truncate()
    return refusal
