"""STARTTLS with the certificate from the settings, and the optional submission listener:
AUTH only after TLS, a wrong password refused 535, then mail to our mailboxes lands in its
thread. A whole stack (start_smtp, a real Temporal dev server), a CA and a server
certificate made for the test with openssl, clients with smtplib."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.inbound.smtp_security import hash_password
from orchestrator.settings import SettingsError, load_settings
from tests.dovecot_tls import TlsFiles, make_certificates
from tests.stack import Stack, running_stack, stack_settings
from tests.support import free_port, wait_for
from use_cases.ports import ThreadNotFound
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
USER, PASSWORD = "shop-app", "correct horse battery staple"
T = TypeVar("T")


@dataclass
class Secured:
    stack: Stack
    submission_port: int
    tls: TlsFiles

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls.ca))

    async def talk(self, port: int, conversation: Callable[[smtplib.SMTP], T]) -> T:
        def run() -> T:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                return conversation(smtp)

        return await asyncio.to_thread(run)


@pytest.fixture
async def secured(
    dev_server: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[Secured]:
    tls = make_certificates(tmp_path / "tls")
    users = tmp_path / "submission-users"
    users.write_text(f"# submission users\n{USER}:{hash_password(PASSWORD)}\n")
    port = free_port()
    settings = stack_settings(
        tmp_path / "data",
        dev_server.client,
        task_queue,
        smtp_tls_cert=tls.cert,
        smtp_tls_key=tls.key,
        submission_port=port,
        submission_users_file=users,
    )
    async with running_stack(dev_server.client, settings) as stack:
        yield Secured(stack, port, tls)


def mail(tag: str) -> bytes:
    return (
        f"Message-ID: <{tag}@example.com>\r\nFrom: app@example.com\r\nTo: {SUPPORT}\r\n"
        f"Subject: order {tag}\r\n\r\nPlease ship it.\r\n"
    ).encode()


async def landed(stack: Stack, tag: str) -> bool:
    try:
        state = await stack.gateway.get(workflow_id_for(SUPPORT, f"<{tag}@example.com>"))
    except ThreadNotFound:
        return False
    return f"<{tag}@example.com>" in state.message_ids


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


async def test_submission_refuses_auth_and_mail_before_starttls(secured: Secured) -> None:
    def before_tls(smtp: smtplib.SMTP) -> tuple[bool, bool, int, int]:
        smtp.ehlo()
        offered = (smtp.has_extn("starttls"), smtp.has_extn("auth"))
        auth_code, _ = smtp.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        mail_code, _ = smtp.docmd("MAIL", "FROM:<app@example.com>")
        return *offered, auth_code, mail_code

    starttls, auth, auth_code, mail_code = await secured.talk(secured.submission_port, before_tls)
    assert starttls and not auth, "AUTH is offered only after STARTTLS"
    assert auth_code == 530 and mail_code == 530  # "Must issue a STARTTLS command first"


async def test_submission_after_starttls_refuses_a_wrong_password_and_takes_mail_after_auth(
    secured: Secured, unique: str
) -> None:
    def after_tls(smtp: smtplib.SMTP) -> tuple[int, int, int]:
        smtp.starttls(context=secured.client_context())  # verifies our test CA's certificate
        smtp.ehlo()
        assert smtp.has_extn("auth") and "PLAIN" in smtp.esmtp_features["auth"].split()
        without_auth, _ = smtp.docmd("MAIL", "FROM:<app@example.com>")
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            smtp.login(USER, "not the password")
        code, _ = smtp.login(USER, PASSWORD)
        smtp.sendmail("app@example.com", [SUPPORT], mail(unique))
        return without_auth, wrong.value.smtp_code, code

    without_auth, wrong_code, code = await secured.talk(secured.submission_port, after_tls)
    assert without_auth == 530, "mail needs AUTH on the submission port"
    assert wrong_code == 535
    assert code == 235
    assert await wait_for(lambda: landed(secured.stack, unique), what="the submitted mail")


async def test_auth_login_works_and_repeated_failures_close_the_connection(
    secured: Secured,
) -> None:
    def guessing(smtp: smtplib.SMTP) -> list[int]:
        smtp.starttls(context=secured.client_context())
        smtp.ehlo()
        smtp.user, smtp.password = USER, "guess"
        codes = []
        for _ in range(3):
            codes.append(smtp.docmd("AUTH", "LOGIN " + base64.b64encode(USER.encode()).decode())[0])
            codes.append(smtp.docmd(base64.b64encode(b"guess").decode())[0])
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.noop()
        return codes

    codes = await secured.talk(secured.submission_port, guessing)
    assert codes == [334, 535, 334, 535, 334, 421]

    def login(smtp: smtplib.SMTP) -> int:
        smtp.starttls(context=secured.client_context())
        smtp.ehlo()
        smtp.user, smtp.password = USER, PASSWORD
        return smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)[0]

    assert await secured.talk(secured.submission_port, login) == 235


async def test_the_main_port_offers_starttls_but_never_auth(secured: Secured, unique: str) -> None:
    def main_port(smtp: smtplib.SMTP) -> tuple[bool, bool, int]:
        smtp.ehlo()
        starttls = smtp.has_extn("starttls")
        smtp.starttls(context=secured.client_context())
        smtp.ehlo()
        auth_code, _ = smtp.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        smtp.sendmail("app@example.com", [SUPPORT], mail(unique))  # no AUTH needed here
        return starttls, smtp.has_extn("auth"), auth_code

    starttls, auth, auth_code = await secured.talk(secured.stack.smtp_port, main_port)
    assert starttls and not auth
    assert auth_code == 503
    assert await wait_for(lambda: landed(secured.stack, unique), what="the mail over TLS")


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"MAILROOM_SMTP_TLS_CERT": "/x.pem"}, "smtp_tls_cert"),
        ({"MAILROOM_SUBMISSION_PORT": "2587"}, "submission_port"),
        (
            {
                "MAILROOM_SUBMISSION_PORT": "2587",
                "MAILROOM_SMTP_TLS_CERT": "/x.pem",
                "MAILROOM_SMTP_TLS_KEY": "/x.key",
            },
            "submission_users_file",
        ),
    ],
)
def test_incomplete_tls_or_submission_settings_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"(?i){named}") as error:
        load_settings()
    assert "\n" not in str(error.value)
