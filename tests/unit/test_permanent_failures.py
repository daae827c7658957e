"""Which hand-off failures are permanent (the same bytes would fail again) and what SMTP
answers: 554 for those, so the sender bounces the mail instead of retrying for days, and 451
for what may pass (Temporal away, what nobody foresaw; a full disk is 452, test_smtp_storage.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import BaseModel

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.smtp import HANDOFF_FAILED, SmtpInboundHandler
from use_cases.claim_check import PayloadTooLarge
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested
from use_cases.permanent_failures import permanent_reason
from use_cases.ports import HandoffFailed


class Strict(BaseModel):
    size: int


def validation_error() -> Exception:
    try:
        Strict.model_validate({"size": "many"})
    except ValueError as exc:
        return exc
    raise AssertionError("pydantic accepted it")


PERMANENT = [
    PayloadTooLarge("needs a 300 KB signal payload"),
    validation_error(),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    LookupError("'rot_13' is not a text encoding"),
    TypeError("unhashable type"),
    RecursionError("maximum recursion depth exceeded"),
]
TRANSIENT = [
    HandoffFailed("Temporal did not accept the message"),
    OSError(28, "No space left on device"),
    TimeoutError(),
    ConnectionResetError(),
    RuntimeError("event loop is closed"),
]


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_content_errors_are_permanent_with_a_one_line_reason(exc: Exception) -> None:
    reason = permanent_reason(exc)
    assert reason and reason.isprintable() and len(reason) <= 300


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_what_may_pass_is_not_permanent(exc: Exception) -> None:
    assert permanent_reason(exc) is None


def test_a_reason_quoting_the_mail_has_no_control_character() -> None:
    assert permanent_reason(ValueError("bad \x1b[2J\nvalue")) == "ValueError: bad ?[2J"


async def answer_to(exc: Exception) -> str:
    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        raise exc

    smtp = SmtpInboundHandler(Mailboxes(["mailroom.local"]), ingest)
    envelope = Envelope()
    envelope.mail_from, envelope.rcpt_tos = "a@example.com", ["support@mailroom.local"]
    envelope.original_content = b"Subject: hi\r\nMessage-ID: <m@example.com>\r\n\r\nhello\r\n"
    return await smtp.handle_DATA(cast(SMTP, None), Session(asyncio.get_running_loop()), envelope)


@pytest.mark.parametrize(
    "exc",
    [
        TypeError("a bug this mail provokes"),
        KeyError("x"),
        RuntimeError("unforeseen"),
        OSError(5, "Input/output error"),
    ],
)
async def test_smtp_defers_an_unforeseen_error_so_a_fixed_bug_lets_the_retry_through(
    exc: Exception,
) -> None:
    assert await answer_to(exc) == HANDOFF_FAILED


async def never_ingests(raw: bytes) -> Ingested:
    raise AssertionError("no mail is handed off here")


def test_imap_counts_only_unforeseen_errors_against_a_uid(tmp_path: Path) -> None:
    source = parse_source("imap://u:p@127.0.0.1/INBOX?tls=off&mailbox=support@mailroom.local")
    checkpoints = SqliteCheckpointStore(tmp_path / "imap.sqlite")
    adapter = ImapInbound(source, ingest=never_ingests, checkpoints=checkpoints, max_attempts=3)
    machine_trouble = [OSError(28, "No space left"), sqlite3.OperationalError("locked")]
    for exc in machine_trouble * 5:  # retried as long as it lasts: never the mail's fault
        assert adapter._permanent((1, 7), exc) is None
    unforeseen = RuntimeError("unforeseen")
    assert [adapter._permanent((1, 7), unforeseen) for _ in range(3)] == [
        None,
        None,
        "failed 3 times: RuntimeError: unforeseen",
    ]
    assert adapter._permanent((1, 8), PayloadTooLarge("300 KB")) == (
        "too large for a signal: 300 KB"
    )
