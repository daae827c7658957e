"""XOAUTH2 login (`auth=xoauth2&token_env=NAME`) against a real Dovecot and a real Temporal.

Dovecot checks the token with its oauth2 passdb, which asks an introspection endpoint the test
serves itself (tests/oauth_introspection.py, `Introspection`): TOKEN is active for the test
user, any other token is not. The adapter reads the token from the environment at each login.
"""

from __future__ import annotations

import asyncio
import base64
import imaplib
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from imapclient.exceptions import LoginError
from structlog.testing import capture_logs
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_session import ImapSession
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from orchestrator.services import IMAP_CHECKPOINTS
from tests.dovecot import Dovecot, running_dovecot
from tests.dovecot_config import USER
from tests.fakes import FakeThreadGateway
from tests.integration.imap_support import (
    MAILBOX,
    SEEN,
    all_have,
    cli_env,
    flags,
    holds,
    imap_stack,
    mail,
    thread_of,
)
from tests.support import run_mailroom, wait_for
from use_cases.ingest import ingest_email
from use_cases.models import Ingested

TOKEN_ENV = "MAILROOM_TEST_TOKEN"
TOKEN = "ya29.good-access-token-7c1f"  # the one token the introspection endpoint accepts
WRONG = "ya29.revoked-access-token-e94b"
AUTH_FAILED = "Authentication failed"  # Dovecot's [AUTHENTICATIONFAILED] text


@pytest.fixture
def dovecot_oauth() -> Iterator[Dovecot]:
    """Dovecot whose XOAUTH2/OAUTHBEARER logins are checked against TOKEN."""
    with running_dovecot(oauth2_token=TOKEN) as server:
        yield server


async def test_xoauth2_login_ingests_mail_into_its_thread(
    dovecot_oauth: Dovecot,
    dev_server: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot = dovecot_oauth
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    waiting_id, waiting = mail("Waiting before the start")
    dovecot.append(waiting)
    url = dovecot.oauth2_url(TOKEN_ENV, mailbox=MAILBOX, start="all")
    assert parse_source(url).password == ""  # nothing secret in the URL

    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(partial(holds, threads, thread_of(waiting), [waiting_id]), what="1st")
        await wait_for(lambda: adapter.status == "idle", what="the adapter to IDLE")
        new_id, new = mail("Appended while it IDLEs")
        await asyncio.to_thread(dovecot.append, new)
        await wait_for(partial(holds, threads, thread_of(new), [new_id]), what=new_id)
        await wait_for(lambda: all_have(flags(dovecot), SEEN, 2), what="both marked \\Seen")
        assert adapter.sessions == 1 and adapter.handed_off == 2
    # Dovecot really took the XOAUTH2 path and asked the endpoint about our token.
    assert dovecot.oauth2_logins() == 1, dovecot.log_tail()
    assert dovecot.oauth2 is not None and dovecot.oauth2.asked == [TOKEN]


async def test_wrong_token_is_refused_retried_with_backoff_and_nothing_handed_off(
    dovecot_oauth: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot = dovecot_oauth
    monkeypatch.setenv(TOKEN_ENV, WRONG)
    dovecot.append(mail("Never fetched with a wrong token")[1])
    threads = FakeThreadGateway()
    with capture_logs() as logs:
        adapter = oauth_adapter(dovecot, tmp_path, threads)
        task = asyncio.create_task(adapter.run())
        try:
            await wait_for(lambda: len(_auth_failures(logs)) >= 3, what="three refused logins")
            assert not task.done()  # still running: it backs off and tries again
            assert adapter.status in ("backing_off", "connecting")
            assert adapter.sessions == 0 and adapter.handed_off == 0
            failures = _auth_failures(logs)
            assert all("LoginError" in f["error"] for f in failures)
            delays = [f["retry_in"] for f in failures[:3]]
            assert delays == [0.05, 0.1, 0.2], delays  # doubling, capped at backoff_max
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert adapter.status == "stopped"
    assert threads.handed_off == []
    assert all(f == () for f in (await flags(dovecot)).values())  # nothing marked
    assert dovecot.oauth2 is not None and set(dovecot.oauth2.asked) == {WRONG}
    assert dovecot.oauth2_logins() == 0
    assert WRONG not in repr(logs)  # the token is never logged


def test_a_refused_token_is_sent_once_and_the_error_challenge_answered_empty(
    dovecot_oauth: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dovecot answers a refused XOAUTH2 token with a challenge (base64 JSON); the client
    replies with an empty line and gets the NO, instead of sending the token again."""
    monkeypatch.setenv(TOKEN_ENV, WRONG)
    sent: list[bytes] = []
    send = imaplib.IMAP4.send

    def recording_send(imap: imaplib.IMAP4, data: bytes) -> None:
        sent.append(data)
        send(imap, data)

    monkeypatch.setattr(imaplib.IMAP4, "send", recording_send)
    session = ImapSession(parse_source(dovecot_oauth.oauth2_url(TOKEN_ENV, mailbox=MAILBOX)))
    with pytest.raises(LoginError, match=AUTH_FAILED):
        session.open()
    session.close()
    wire = b"".join(sent)
    initial = base64.b64encode(f"user={USER}\x01auth=Bearer {WRONG}\x01\x01".encode())
    assert b" AUTHENTICATE XOAUTH2\r\n" + initial + b"\r\n\r\n" in wire, wire
    assert wire.count(initial) == 1  # the empty line after it answers the error challenge
    assert dovecot_oauth.oauth2 is not None and dovecot_oauth.oauth2.asked == [WRONG]


async def test_unset_token_variable_fails_the_login_without_asking_the_server(
    dovecot_oauth: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot = dovecot_oauth
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with capture_logs() as logs:
        adapter = oauth_adapter(dovecot, tmp_path, FakeThreadGateway())
        task = asyncio.create_task(adapter.run())
        try:
            await wait_for(
                lambda: len(_failures(logs, f"{TOKEN_ENV} is empty or unset")) >= 2,
                what="two refused starts",
            )
            assert adapter.sessions == 0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert dovecot.oauth2 is not None and dovecot.oauth2.asked == []


async def test_token_is_read_again_at_the_next_login(
    dovecot_oauth: Dovecot,
    dev_server: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot = dovecot_oauth
    monkeypatch.setenv(TOKEN_ENV, WRONG)
    message_id, raw = mail("Fetched once the token is renewed")
    dovecot.append(raw)
    url = dovecot.oauth2_url(TOKEN_ENV, mailbox=MAILBOX, start="all")
    with capture_logs() as logs:
        async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
            await wait_for(lambda: _auth_failures(logs), what="the wrong token refused")
            await wait_for(lambda: adapter.status == "backing_off", what="the adapter to back off")
            assert adapter.handed_off == 0

            monkeypatch.setenv(TOKEN_ENV, TOKEN)  # renewed while it waits to retry
            await wait_for(partial(holds, threads, thread_of(raw), [message_id]), what=message_id)
            await wait_for(lambda: all_have(flags(dovecot), SEEN, 1), what="marked \\Seen")
            assert adapter.sessions == 1
    assert dovecot.oauth2 is not None
    asked = dovecot.oauth2.asked
    assert asked[-1] == TOKEN and set(asked) == {WRONG, TOKEN}
    assert asked.index(TOKEN) > 0  # the new token, at a later login
    assert dovecot.oauth2_logins() == 1
    assert WRONG not in repr(logs) and TOKEN not in repr(logs)


async def test_check_with_a_wrong_token_exits_2_and_never_prints_it(
    dovecot_oauth: Dovecot, tmp_path: Path
) -> None:
    dovecot = dovecot_oauth
    dovecot.append(mail("Waiting behind OAuth2")[1])
    url = dovecot.oauth2_url(TOKEN_ENV, mailbox=MAILBOX, start="all")
    env = cli_env("127.0.0.1:1", "unused", tmp_path, url)  # drops every MAILROOM_* variable

    env[TOKEN_ENV] = TOKEN
    code, out, err = await run_mailroom("imap", "--check", env=env)
    assert code == 0, out + err
    assert ": ok" in out and "1 messages" in out and "1 to ingest" in out
    assert TOKEN not in out + err

    env[TOKEN_ENV] = WRONG
    code, out, err = await run_mailroom("imap", "--check", env=env)
    assert code == 2, out + err
    assert "FAILED" in out and AUTH_FAILED in out
    assert WRONG not in out + err


def oauth_adapter(dovecot: Dovecot, tmp_path: Path, threads: FakeThreadGateway) -> ImapInbound:
    """The adapter alone, handing off to the recording fake, with a short backoff."""

    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(raw, mailboxes=[MAILBOX], gateway=threads, parse=parse_email)

    return ImapInbound(
        parse_source(dovecot.oauth2_url(TOKEN_ENV, mailbox=MAILBOX, start="all")),
        ingest=ingest,
        checkpoints=SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS),
        backoff_initial=0.05,
        backoff_max=0.2,
    )


def _failures(logs: Sequence[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    return [
        entry
        for entry in logs
        if entry["event"] == "imap_session_failed" and text in entry.get("error", "")
    ]


def _auth_failures(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return _failures(logs, AUTH_FAILED)
