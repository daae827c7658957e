"""How N SMTP processes share the front door's limits, and what a process count may be."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from adapters.inbound.smtp import SmtpInboundHandler
from orchestrator.cli_errors import CliError
from orchestrator.process_roles import SPLIT_LIMITS, limit_shares, process_count, smtp_role
from orchestrator.settings import Settings, load_settings
from orchestrator.startup_checks import StartupError
from tests.support import free_port
from use_cases.mailboxes import Mailboxes


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_each_smtp_process_gets_its_share_of_every_total_so_n_never_admit_more() -> None:
    settings = Settings(smtp_max_connections=1000, max_in_flight=7)
    shares = limit_shares(settings, 3)
    for name in SPLIT_LIMITS:
        share = int(shares[f"MAILROOM_{name.upper()}"])
        assert share >= 1 and 3 * share <= getattr(settings, name), name
    assert shares["MAILROOM_SMTP_MAX_CONNECTIONS"] == "333"
    assert shares["MAILROOM_MAX_IN_FLIGHT"] == "2"


@pytest.mark.parametrize(
    "setting",
    [
        "smtp_max_connections",
        "smtp_max_data_transfers",
        "smtp_max_connections_per_client",
        "smtp_threads_per_client_per_minute",
        "max_in_flight",
    ],
)
def test_a_total_under_the_process_count_is_refused_naming_the_setting(setting: str) -> None:
    with pytest.raises(CliError, match=f"MAILROOM_{setting.upper()}=2 .* 4 SMTP processes"):
        limit_shares(Settings.model_validate({setting: 2}), 4)


def test_a_rate_switched_off_stays_off() -> None:
    shares = limit_shares(Settings(smtp_threads_per_client_per_minute=0), 4)
    assert shares["MAILROOM_SMTP_THREADS_PER_CLIENT_PER_MINUTE"] == "0"


def test_a_pending_share_under_the_message_size_limit_is_refused() -> None:
    # 256 MiB / 16 is 16 MiB: one 25 MiB mail alone would overshoot a process's share.
    with pytest.raises(CliError, match=r"MAILROOM_SMTP_MAX_PENDING_BYTES .* 16 SMTP .* 400 MiB"):
        limit_shares(Settings(), 16)


async def test_a_large_mail_is_not_deferred_while_the_configured_budget_has_room() -> None:
    shares = limit_shares(Settings(), 8)  # 256 MiB of pending bodies in all, mail up to 25 MiB
    process = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        lambda *_: None,  # type: ignore[arg-type]
        max_pending_bytes=int(shares["MAILROOM_SMTP_MAX_PENDING_BYTES"]),
    )
    process.pending_bytes = 10_000  # one small mail awaiting its hand-off in this process
    assert process.pending_refusal("DATA", 20 * 1024 * 1024, None) is None


def test_the_shares_are_settings_a_child_process_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in limit_shares(Settings(), 2).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.smtp_max_connections == 500 and settings.smtp_max_data_transfers == 50


@pytest.mark.parametrize("text", ["0", "65", "-1", "two", "1.5", ""])
def test_a_process_count_outside_1_to_64_is_refused(text: str) -> None:
    with pytest.raises(CliError, match="from 1 to 64"):
        process_count(text, "--processes")


def test_a_process_count_is_1_unless_asked() -> None:
    assert process_count(None, "--processes") == 1
    assert process_count("64", "--processes") == 64


def test_smtp_processes_listen_on_sockets_of_one_port_the_kernel_balances() -> None:
    port = free_port()
    role = smtp_role(Settings(smtp_port=port), 3)
    try:
        assert len(role.sockets) == 3 and len({s[0].fileno() for s in role.sockets}) == 3
        assert {s[0].getsockname()[1] for s in role.sockets} == {port}
        assert role.env["MAILROOM_SMTP_MAX_CONNECTIONS"] == "333"
    finally:
        for sockets in role.sockets:
            sockets[0].close()


def test_a_port_in_use_fails_before_any_process_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError, match=f"MAILROOM_SMTP_PORT: 127.0.0.1:{port} is in use"):
            smtp_role(Settings(smtp_port=port), 2)


def test_each_smtp_process_also_gets_a_socket_of_the_submission_port() -> None:
    smtp, submission = free_port(), free_port()
    settings = Settings(
        smtp_port=smtp,
        submission_port=submission,
        smtp_tls_cert=Path("cert.pem"),
        smtp_tls_key=Path("key.pem"),
        submission_users_file=Path("users"),
    )
    role = smtp_role(settings, 2)
    try:
        ports = [[s.getsockname()[1] for s in sockets] for sockets in role.sockets]
        assert ports == [[smtp, submission], [smtp, submission]]  # LISTEN_FD_OPTION order
    finally:
        for sockets in role.sockets:
            for sock in sockets:
                sock.close()
