"""A supervised child's stdout as lines (orchestrator/process_group.py reads its announce
lines and ready line there, and passes the rest through)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

CHUNK_BYTES = 64 * 1024
# A longer line is passed on in pieces: the parent never holds more than this of one line.
MAX_LINE_BYTES = 1024 * 1024


async def output_lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Every line `stream` carries until EOF, without its newline, whatever its length.
    Read in chunks: StreamReader's own line reading raises past 64 KiB, which would end the
    reading and leave the child blocked on a full pipe."""
    pending = b""
    while chunk := await stream.read(CHUNK_BYTES):
        *complete, pending = (pending + chunk).split(b"\n")
        for raw in complete:
            yield _text(raw)
        while len(pending) >= MAX_LINE_BYTES:
            yield _text(pending[:MAX_LINE_BYTES])
            pending = pending[MAX_LINE_BYTES:]
    if pending:
        yield _text(pending)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
