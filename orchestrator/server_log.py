"""The embedded Temporal server's log, relayed into mailroom's: the server writes one JSON
object per line on stderr (`--log-format json`); each becomes a line of mailroom's own
stream (JSON, or the console renderer on a terminal) with `logger="temporal.server"`, so
one log pipeline (Promtail, journald) reads every part of `mailroom up`. The raw lines also
go to `<data dir>/temporal.log`, the file that start-up errors point to."""

from __future__ import annotations

import asyncio
import json
from typing import IO, Any

import structlog

log = structlog.get_logger()

LOGGER = "temporal.server"
# The server's own levels; its DPANIC/PANIC/FATAL are errors to us.
LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning"}
# Keys of a line that mailroom's processors set themselves: the server's are renamed.
OURS = frozenset({"event", "level", "timestamp", "logger"})
# A line longer than this is cut (the server logs stack traces within one line).
LINE_LIMIT = 1 << 20


def server_level(mailroom_level: str) -> str:
    """The server's `--log-level` for mailroom's: its info lines are about its own
    internals (shards, membership), so they show only when mailroom's level is debug."""
    return {"debug": "info", "info": "warn", "warning": "warn"}.get(mailroom_level, "error")


def relayed(line: bytes) -> tuple[str, str, dict[str, Any]]:
    """A server line as (level, message, fields). A line that is not a JSON object (the
    start-up banner, a Go panic) is kept whole as the message, at warning."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return "warning", text, {}
    level = LEVELS.get(str(record.pop("level", "")).lower(), "error")
    # lifecycle lines have no message: what started or stopped says it
    message = (
        str(record.pop("msg", ""))
        or " ".join(str(record[key]) for key in ("component", "lifecycle") if key in record)
        or "temporal server"
    )
    record.pop("time", None)  # mailroom stamps the line as it relays it
    fields = {
        (f"server_{key}" if key in OURS else str(key)): value for key, value in record.items()
    }
    return level, message, fields


async def relay_lines(stream: asyncio.StreamReader, copy: IO[bytes]) -> None:
    """Until the server closes its stderr: each line into mailroom's log and the file.
    Nothing a line or the file does stops the reading: the server would block on a full
    pipe, and all of Temporal with it."""
    copying = True
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # over LINE_LIMIT: the reader dropped it
            log.warning("temporal_server_log_line_too_long", limit=LINE_LIMIT)
            continue
        if not line:
            return
        copying = copying and _copied(line, copy)
        try:
            level, message, fields = relayed(line)
            log.log(_numeric(level), message, logger=LOGGER, **fields)
        except Exception as exc:  # a line too deep for the JSON decoder, an odd field
            log.warning("temporal_server_log_line_unreadable", error=repr(exc)[:200])
        # readline() returns lines already buffered without yielding: a burst would hold
        # the event loop (SMTP's answers) until every line of it is relayed.
        await asyncio.sleep(0)


def _copied(line: bytes, copy: IO[bytes]) -> bool:
    """False once temporal.log cannot be written (a full disk): said once, then skipped."""
    try:
        copy.write(line)
        copy.flush()
    except OSError as exc:
        log.error("temporal_server_log_not_written", error=str(exc))
        return False
    return True


def _numeric(level: str) -> int:
    return {"debug": 10, "info": 20, "warning": 30}.get(level, 40)
