"""Helpers shared by tests: free ports, waiting on conditions, settings for a test stack."""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapters.outbound.flowed import decode
from bench.ports import free_port as free_port  # the tests' servers' ports

T = TypeVar("T")
DEFAULT_TIMEOUT = 20.0


async def wait_for(
    check: Callable[[], Any], *, timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> Any:
    """Poll `check` (sync or async) until it returns a truthy value; fail after `timeout`.

    Exceptions from `check` count as "not yet" until the deadline, then are re-raised.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last_error = None
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            if last_error is not None:
                raise AssertionError(f"timed out waiting for {what}") from last_error
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def wait_for_sync(check: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or 'condition'}")
        time.sleep(0.05)


async def run_mailroom(
    *args: str, env: dict[str, str], timeout: float = 60
) -> tuple[int, str, str]:
    """Run the `mailroom` CLI in a subprocess without blocking this test's event loop."""
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


def require_tool(found: str | None, reason: str) -> str:
    """A system tool a test needs: skip without it locally, fail under CI (which must
    install everything, .ci/run)."""
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def plain_text(message: EmailMessage) -> str:
    """What a reader shows of a sent mail's text: its text/plain part, the soft breaks of
    format=flowed joined back."""
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage), "no text/plain part"
    text = str(part.get_content())
    return decode(text) if str(part.get_param("format", "")).lower() == "flowed" else text


def read_mail(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def with_attachment(head: str, text: str, attached: bytes, filename: str) -> bytes:
    """A mail of `head` (its header lines, each ending in CRLF, MIME-Version among them)
    with `text` and one PDF attachment, as a mail client sends it."""
    encoded = base64.encodebytes(attached).decode().replace("\n", "\r\n")
    return (
        f"{head}Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b--\r\n"
    ).encode()
