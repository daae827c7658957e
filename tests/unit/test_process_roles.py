"""How N SMTP processes share the front door's limits, and what a process count may be."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from orchestrator.cli_errors import CliError
from orchestrator.process_roles import limit_shares, process_count, smtp_role
from orchestrator.settings import Settings, load_settings
from orchestrator.startup_checks import StartupError
from tests.support import free_port


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_each_smtp_process_gets_its_share_of_every_total_so_n_never_admit_more() -> None:
    settings = Settings(smtp_max_connections=1000, smtp_max_pending_bytes=300, max_in_flight=7)
    shares = limit_shares(settings, 3)
    assert shares["MAILROOM_SMTP_MAX_CONNECTIONS"] == "333"
    assert shares["MAILROOM_SMTP_MAX_DATA_TRANSFERS"] == "33"
    assert shares["MAILROOM_SMTP_MAX_PENDING_BYTES"] == "100"
    assert shares["MAILROOM_SMTP_MAX_CONNECTIONS_PER_CLIENT"] == "16"
    assert shares["MAILROOM_SMTP_THREADS_PER_CLIENT_PER_MINUTE"] == "33"
    assert shares["MAILROOM_MAX_IN_FLIGHT"] == "2"


def test_a_share_is_never_zero_and_no_limit_stays_no_limit() -> None:
    shares = limit_shares(Settings(max_in_flight=2, smtp_threads_per_client_per_minute=0), 4)
    assert shares["MAILROOM_MAX_IN_FLIGHT"] == "1"  # 0 would refuse every mail
    assert shares["MAILROOM_SMTP_THREADS_PER_CLIENT_PER_MINUTE"] == "0"


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
