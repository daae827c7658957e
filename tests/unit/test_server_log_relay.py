"""The embedded server's log relay keeps reading the server's stderr whatever a line or the
copy file does: a relay that stops reading leaves the server blocked on a full pipe (all of
Temporal stalls), and its error would surface only when mailroom stops."""

from __future__ import annotations

import asyncio
import errno
import io
from collections.abc import MutableMapping
from typing import Any

from structlog.testing import capture_logs

from orchestrator.server_log import LINE_LIMIT, LOGGER, relay_lines


class FullDisk(io.BytesIO):
    """temporal.log on a disk that has run out of space."""

    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def server_stderr(*lines: bytes) -> asyncio.StreamReader:
    stream = asyncio.StreamReader(limit=LINE_LIMIT)  # as the server's pipe is read
    for line in lines:
        stream.feed_data(line)
    stream.feed_eof()
    return stream


def relayed_events(logs: list[MutableMapping[str, Any]]) -> list[object]:
    return [entry["event"] for entry in logs if entry.get("logger") == LOGGER]


async def test_the_relay_reads_on_and_logs_every_line_when_temporal_log_cannot_be_written() -> None:
    stream = server_stderr(b'{"level":"warn","msg":"one"}\n', b'{"level":"warn","msg":"two"}\n')
    with capture_logs() as logs:
        await asyncio.wait_for(relay_lines(stream, FullDisk()), 5)
    assert relayed_events(logs) == ["one", "two"]
    assert stream.at_eof()


async def test_a_line_the_relay_cannot_read_does_not_stop_it() -> None:
    nested = b"[" * 200_000 + b"\n"  # JSON too deep for the decoder
    stream = server_stderr(nested, b'{"level":"error","msg":"after"}\n')
    copy = io.BytesIO()
    with capture_logs() as logs:
        await asyncio.wait_for(relay_lines(stream, copy), 5)
    assert relayed_events(logs)[-1] == "after"
    assert copy.getvalue().endswith(b'"after"}\n')


async def test_a_burst_of_server_lines_leaves_the_rest_of_mailroom_running_between_them() -> None:
    """mailroom's SMTP shares the event loop: lines already read must not be relayed all
    at once without a turn for anything else."""
    stream = server_stderr(*[b'{"level":"warn","msg":"busy"}\n'] * 100)
    relayed_before_another_task_ran: list[int] = []
    with capture_logs() as logs:
        relay = asyncio.create_task(relay_lines(stream, io.BytesIO()))

        async def another_task() -> None:
            relayed_before_another_task_ran.append(len(relayed_events(logs)))

        await asyncio.gather(relay, asyncio.create_task(another_task()))
    assert len(relayed_events(logs)) == 100
    assert relayed_before_another_task_ran[0] < 10
