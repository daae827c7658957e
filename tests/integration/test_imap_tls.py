"""The IMAP adapter over TLS against a real Dovecot with `ssl = required`.

The server certificate is signed by a throwaway CA made at fixture time (tests/dovecot_tls.py):
trusted through `ca_file=`, refused with the system's CAs alone, and refused for a host name
it was not issued for even with `ca_file=`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.imap import ImapInbound
from adapters.inbound.imap_checkpoint import SqliteCheckpointStore
from adapters.inbound.imap_source import parse_source
from adapters.inbound.mime import parse_email
from orchestrator.services import IMAP_CHECKPOINTS
from tests.dovecot import Dovecot, running_dovecot
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

MODES = pytest.mark.parametrize("implicit", [True, False], ids=["imaps", "starttls"])
VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


@pytest.fixture
def dovecot_tls() -> Iterator[Dovecot]:
    """Dovecot with `ssl = required`: STARTTLS on its plain port, implicit TLS on imaps."""
    with running_dovecot(tls=True) as server:
        yield server


def tls_url(dovecot: Dovecot, implicit: bool, **params: Any) -> str:
    # STARTTLS goes to "localhost", imaps to "127.0.0.1": both subjectAltNames get checked.
    host = "127.0.0.1" if implicit else "localhost"
    return dovecot.tls_url(implicit=implicit, host=host, mailbox=MAILBOX, **params)


@MODES
async def test_mail_is_ingested_over_tls_verified_with_ca_file(
    implicit: bool,
    dovecot_tls: Dovecot,
    dev_server: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    dovecot = dovecot_tls
    message_id, raw = mail("Sent over TLS")
    dovecot.append(raw)
    url = tls_url(dovecot, implicit, start="all")
    assert dovecot.tls is not None and parse_source(url).ca_file == str(dovecot.tls.ca)

    async with imap_stack(dev_server.client, tmp_path, task_queue, url) as (threads, [adapter]):
        await wait_for(partial(holds, threads, thread_of(raw), [message_id]), what=message_id)
        await wait_for(lambda: all_have(flags(dovecot), SEEN, 1), what="the mail marked \\Seen")
        assert adapter.sessions >= 1
    # Every login over TLS is the adapter's (the test's own client logs in without TLS).
    port = dovecot.imaps_port if implicit else dovecot.port
    assert dovecot.tls_logins(port) >= 1, dovecot.log_tail()


@MODES
async def test_without_ca_file_the_certificate_is_refused_and_the_adapter_keeps_retrying(
    implicit: bool, dovecot_tls: Dovecot, tmp_path: Path
) -> None:
    dovecot = dovecot_tls
    dovecot.append(mail("Never fetched without trust")[1])
    url = tls_url(dovecot, implicit, with_ca=False, start="all")
    assert parse_source(url).ca_file is None
    threads = FakeThreadGateway()
    with capture_logs() as logs:
        adapter = tls_adapter(url, tmp_path, threads)
        task = asyncio.create_task(adapter.run())
        try:
            await wait_for(
                lambda: len(_verify_failures(logs)) >= 3, what="three refused TLS handshakes"
            )
            assert not task.done()  # still running: it backs off and tries again
            assert adapter.status in ("backing_off", "connecting")
            assert adapter.sessions == 0 and adapter.handed_off == 0
            assert "unable to get local issuer certificate" in _verify_failures(logs)[0]["error"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert adapter.status == "stopped"
    assert threads.handed_off == []
    assert all(f == () for f in (await flags(dovecot)).values())  # nothing marked
    assert dovecot.tls_logins(dovecot.imaps_port) + dovecot.tls_logins(dovecot.port) == 0


async def test_check_reports_certificate_failures_with_exit_code_2(
    dovecot_tls: Dovecot, tmp_path: Path
) -> None:
    dovecot = dovecot_tls
    dovecot.append(mail("Waiting behind TLS")[1])
    trusted = dovecot.tls_url(mailbox=MAILBOX, start="all")
    env = cli_env("127.0.0.1:1", "unused", tmp_path, trusted)
    code, out, err = await run_mailroom("imap", "--check", env=env)
    assert code == 0, out + err
    assert ": ok" in out and "1 messages" in out

    untrusted = dovecot.tls_url(with_ca=False, mailbox=MAILBOX)
    # The test CA is trusted, but the certificate is for localhost/127.0.0.1, not "127.1"
    # (which still connects to 127.0.0.1): host name checking stays on with ca_file=.
    wrong_host = dovecot.tls_url(host="127.1", mailbox=MAILBOX)
    env["MAILROOM_IMAP_SOURCES"] = ",".join([trusted, untrusted, wrong_host])
    code, out, err = await run_mailroom("imap", "--check", env=env)
    assert code == 2, out + err
    reports = _reports(out)
    assert len(reports) == 3, out
    assert ": ok" in reports[0]
    assert "FAILED" in reports[1] and VERIFY_FAILED in reports[1]
    assert "unable to get local issuer certificate" in reports[1]
    assert "FAILED" in reports[2] and "Hostname mismatch" in reports[2]
    assert "s3cr" not in out  # the password stays masked


def tls_adapter(url: str, tmp_path: Path, threads: FakeThreadGateway) -> ImapInbound:
    async def ingest(raw: bytes) -> Ingested:
        return await ingest_email(raw, mailboxes=[MAILBOX], gateway=threads, parse=parse_email)

    checkpoints = SqliteCheckpointStore(tmp_path / IMAP_CHECKPOINTS)
    return ImapInbound(
        parse_source(url),
        ingest=ingest,
        checkpoints=checkpoints,
        backoff_initial=0.05,
        backoff_max=0.2,
    )


def _verify_failures(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        entry
        for entry in logs
        if entry["event"] == "imap_session_failed" and VERIFY_FAILED in entry.get("error", "")
    ]


def _reports(out: str) -> list[str]:
    """`imap --check` output split into one block per source (each starts unindented)."""
    blocks: list[str] = []
    for line in out.splitlines():
        if line and not line.startswith(" "):
            blocks.append(line)
        elif blocks:
            blocks[-1] += "\n" + line
    return blocks
