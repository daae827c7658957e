"""Receiving one DATA body: aiosmtpd's reading rules, with the body spooled to disk.

aiosmtpd 1.4.6 keeps every line of a DATA in a list until the final dot, so each unfinished
24 MB transfer held about 25 MB, and the heap kept it after. Here the body goes to a
`SpooledTemporaryFile` that rolls over to an unnamed temp file (O_TMPFILE, or unlinked at
once) past `spool_bytes`: a connection holds at most that much memory while it sends, and a
file that has no name is gone from the disk when it is closed, whatever ends the transfer
(end of data, a refusal, a disconnect, a crash).

Kept from aiosmtpd's `smtp_DATA`: lines end at <CR><LF> only, a lone "." ends the data,
a leading dot is removed (RFC 5321 §4.5.2), `data_size_limit` counts the bytes as sent, and
a refusal is answered only after the final dot (RFC 5321 §4.2.5). Added: a line with a bare
<LF> in it refuses the whole mail (Postfix's `smtpd_forbid_bare_newline = yes`), which takes
away the ambiguity the 2023 SMTP smuggling attacks need (`<LF>.<LF>`, `<CR><LF>.<LF>`...).
"""

from __future__ import annotations

import asyncio
import enum
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

END_OF_DATA = b".\r\n"


class DataRefusal(enum.Enum):
    """Why a body is refused; each is answered after the final dot."""

    TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
    TOO_MUCH = "552 5.3.4 Error: too much mail data"
    BARE_LF = "550 5.5.2 Error: bare <LF> received"
    NO_SPACE = "452 4.3.1 Insufficient system storage"


@dataclass(frozen=True)
class Spool:
    """Where bodies larger than `memory_bytes` go (None: the system's temp directory)."""

    directory: Path | None = None
    memory_bytes: int = 1024 * 1024


async def receive_data(
    reader: asyncio.StreamReader, spool: Spool, *, size_limit: int | None, line_limit: int
) -> bytes | DataRefusal:
    """Read a DATA body up to its final dot: the unstuffed bytes, or why they are refused.
    A lost connection raises (CancelledError from aiosmtpd, or ConnectionResetError)."""
    if spool.directory is not None:
        spool.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory = str(spool.directory) if spool.directory is not None else None
    with tempfile.SpooledTemporaryFile(max_size=spool.memory_bytes, dir=directory) as body:
        if spool.memory_bytes == 0:  # SpooledTemporaryFile reads 0 as "never roll over"
            body.rollover()
        refusal = await _spool_lines(reader, body, size_limit=size_limit, line_limit=line_limit)
        if refusal is not None:
            return refusal
        body.seek(0)
        return body.read()


async def _spool_lines(
    reader: asyncio.StreamReader, body: IO[bytes], *, size_limit: int | None, line_limit: int
) -> DataRefusal | None:
    refusal: DataRefusal | None = None
    received = 0
    fragments: list[bytes] = []  # pieces of a line longer than the reader's limit
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as overrun:
            # Longer than the reader's limit (aiosmtpd sets it to the line length limit):
            # refused; keep reading to the final dot, holding nothing.
            refusal = refusal or DataRefusal.TOO_LONG
            line = await reader.read(overrun.consumed)
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("connection closed during DATA") from None
        if not fragments and line == END_OF_DATA:
            return refusal
        received += len(line)
        if refusal is None and size_limit and received > size_limit:
            refusal = _discard(body, DataRefusal.TOO_MUCH)
        fragments.append(line)
        if not line.endswith(b"\r\n"):
            continue
        whole = b"".join(fragments) if len(fragments) > 1 else line
        fragments.clear()
        if refusal is not None:
            continue
        if len(whole) > line_limit:
            refusal = _discard(body, DataRefusal.TOO_LONG)
        elif whole.find(b"\n") != len(whole) - 1:
            refusal = _discard(body, DataRefusal.BARE_LF)
        else:
            try:
                body.write(whole[1:] if whole.startswith(b".") else whole)
            except OSError:  # the disk is full: answered 452 after the final dot
                refusal = _discard(body, DataRefusal.NO_SPACE)


def _discard(body: IO[bytes], refusal: DataRefusal) -> DataRefusal:
    """Give back the memory or disk a refused body holds while the rest is read."""
    body.seek(0)
    body.truncate()
    return refusal
