"""Which hand-off failures are permanent (the same bytes would fail again) and what SMTP
answers: 554 for those, so the sender bounces the mail instead of retrying for days, and 451
for what may pass (Temporal away, what nobody foresaw; a full disk is 452, test_smtp_storage.py)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from adapters.inbound.smtp import HANDOFF_FAILED, SmtpInboundHandler
from adapters.outbound.temporal_gateway import TemporalThreadGateway
from use_cases.claim_check import PayloadTooLarge
from use_cases.ingest import to_new_message
from use_cases.mailboxes import Mailboxes
from use_cases.models import CompleteRequest, Ingested, ThreadKey
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
    machine_trouble = [
        OSError(28, "No space left"),
        sqlite3.OperationalError("locked"),
        sqlite3.DatabaseError("database disk image is malformed"),
        MemoryError(),
        RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""),
    ]
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


async def temporal_out_of_reach() -> Client:
    """A lazy client (what `mailroom smtp`/`imap` run with) to a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = f"127.0.0.1:{port}"
    return await Client.connect(target, lazy=True, data_converter=pydantic_data_converter)


async def test_temporal_out_of_reach_is_a_failed_hand_off_on_every_gateway_call() -> None:
    gateway = TemporalThreadGateway(await temporal_out_of_reach())
    key = ThreadKey(mailbox="support@mailroom.local", key="<m@x>", rule="new", workflow_id="t")
    raw = b"Subject: hi\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n"
    message = to_new_message(parse_email(raw), key, datetime.now(UTC))
    calls = [
        gateway.is_open("t"),
        gateway.new_message(key, message),
        gateway.get("t"),
        gateway.complete("t", CompleteRequest(reason="done")),
    ]
    for call in calls:  # never a RuntimeError: SMTP would answer with a traceback
        with pytest.raises(HandoffFailed):
            await call


async def test_imap_never_counts_an_error_of_the_temporal_client_against_a_mail(
    tmp_path: Path,
) -> None:
    client = await temporal_out_of_reach()
    try:
        await client.get_workflow_handle("t").describe()
    except RuntimeError as exc:  # "Failed client connect", raised from temporalio's code
        refused: Exception = exc
    else:
        raise AssertionError("a lazy client reached a closed port")
    source = parse_source("imap://u:p@127.0.0.1/INBOX?tls=off&mailbox=support@mailroom.local")
    checkpoints = SqliteCheckpointStore(tmp_path / "imap.sqlite")
    adapter = ImapInbound(source, ingest=never_ingests, checkpoints=checkpoints, max_attempts=3)
    assert [adapter._permanent((1, 7), refused) for _ in range(5)] == [None] * 5
