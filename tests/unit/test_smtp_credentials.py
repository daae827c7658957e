"""The submission users file and the STARTTLS pair: what an operator writes, what start-up
says about a bad one (one line, never a password or hash), and who gets in."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.inbound.smtp_security import Credentials, CredentialsError, hash_password
from orchestrator.services import protocol_rules, submission_credentials
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError

# A cheap work factor keeps these tests fast; the default (N=2^14) is what hash_password uses.
CHEAP = {"n": 2**4, "r": 1}


def users_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "users"
    path.write_text(text)
    return path


def test_the_right_password_gets_in_and_a_wrong_one_or_an_unknown_name_does_not(
    tmp_path: Path,
) -> None:
    stored = hash_password("s3cret pass", **CHEAP)
    credentials = Credentials.load(users_file(tmp_path, f"# who\n\napp:{stored}\n"))
    assert credentials.verify(b"app", b"s3cret pass")
    assert not credentials.verify(b"app", b"s3cret pasS")
    assert not credentials.verify(b"someone", b"s3cret pass")
    assert not credentials.verify(b"\xff", b"s3cret pass")


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same", **CHEAP) != hash_password("same", **CHEAP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app:plaintext-password\n", "users:1: expected name:scrypt"),
        ("# only a comment\n", "no users"),
        ("app:scrypt$3$1$1$00112233445566778899$" + "00" * 32 + "\n", "users:1:"),  # N not 2^k
        ("app:scrypt$1073741824$8$1$0011223344556677$" + "00" * 32 + "\n", "users:1:"),  # N huge
    ],
    ids=["plain-password", "empty", "n-not-power-of-two", "n-too-big"],
)
def test_a_bad_users_file_is_one_line_without_its_secrets(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(CredentialsError, match=expected) as error:
        Credentials.load(users_file(tmp_path, text))
    assert "\n" not in str(error.value)
    assert "plaintext-password" not in str(error.value)


def test_start_up_names_the_setting_for_a_missing_users_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, submission_users_file=tmp_path / "missing")
    with pytest.raises(StartupError, match=r"MAILROOM_SUBMISSION_USERS_FILE: .*cannot be read"):
        submission_credentials(settings)


def test_start_up_refuses_an_unusable_certificate_pair(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    settings = Settings(data_dir=tmp_path, smtp_tls_cert=cert, smtp_tls_key=key)
    with pytest.raises(StartupError, match="MAILROOM_SMTP_TLS_CERT/KEY") as error:
        protocol_rules(settings)
    assert "\n" not in str(error.value)


def test_without_a_certificate_there_is_no_starttls(tmp_path: Path) -> None:
    rules, tls = protocol_rules(Settings(data_dir=tmp_path, smtp_spool_bytes=0))
    assert tls is None
    assert rules.credentials is None, "AUTH is offered only on the submission listener"
    assert rules.spool.directory == tmp_path / "tmp" and rules.spool.memory_bytes == 0
