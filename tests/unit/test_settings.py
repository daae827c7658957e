from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import build_parser
from orchestrator.settings import Settings, SettingsError, load_settings, masked


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == Path(".mailroom")
    assert settings.embedded_temporal and settings.temporal_target == "127.0.0.1:7233"
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 2525)
    assert settings.domains == ["mailroom.local", "localhost"]
    assert settings.max_message_bytes == 25 * 1024 * 1024


def test_env_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_DOMAINS", "corp.example, mailroom.local")
    monkeypatch.setenv("MAILROOM_MAILBOXES", "Support@corp.example,procurement@mailroom.local")
    settings = load_settings()
    assert settings.domains == ["corp.example", "mailroom.local"]
    assert settings.mailboxes == ["support@corp.example", "procurement@mailroom.local"]


def test_toml_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "mailroom.toml").write_text('smtp_port = 2600\nsmtp_host = "0.0.0.0"\n')
    monkeypatch.setenv("MAILROOM_SMTP_PORT", "2700")
    settings = load_settings()
    assert (settings.smtp_host, settings.smtp_port) == ("0.0.0.0", 2700)


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("MAILROOM_SMTP_PORT", "abc", "MAILROOM_SMTP_PORT"),
        ("MAILROOM_TEMPORAL_PORT", "70000", "MAILROOM_TEMPORAL_PORT"),
        ("MAILROOM_MAX_MESSAGE_BYTES", "0", "MAILROOM_MAX_MESSAGE_BYTES"),
        ("MAILROOM_OUTBOUND_SMTP", "no-port", "MAILROOM_OUTBOUND_SMTP"),
        ("MAILROOM_MAILBOXES", "x@foreign.example", "MAILROOM_MAILBOXES"),
    ],
)
def test_a_bad_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(f"{complaint}: ")
    assert "\n" not in str(error.value)


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_TEMPORAL_API_KEY", "super-secret-key")
    shown = masked(load_settings())
    assert "super-secret-key" not in repr(shown)
    assert shown["MAILROOM_TEMPORAL_API_KEY"] == "********"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_cli_fails_fast_with_one_line_and_exit_code_2() -> None:
    env = {**__import__("os").environ, "MAILROOM_SMTP_PORT": "many"}
    result = run_cli("config", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("mailroom: MAILROOM_SMTP_PORT:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_config_prints_effective_settings_masked() -> None:
    env = {**__import__("os").environ, "MAILROOM_TEMPORAL_API_KEY": "hunter2"}
    result = run_cli("config", env=env)
    assert result.returncode == 0
    assert "MAILROOM_SMTP_PORT=2525" in result.stdout
    assert "hunter2" not in result.stdout


def test_every_command_has_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in (
        "up",
        "server",
        "worker",
        "smtp",
        "send",
        "replay",
        "threads",
        "thread",
        "complete",
        "outbox",
        "imap",
        "approve",
        "reject",
        "pos",
        "reprocess",
        "config",
    ):
        assert command in result.stdout
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([command, "--help"])
        assert exited.value.code == 0


def test_a_cli_usage_error_exits_2() -> None:
    assert run_cli("threads", "--status", "nonsense").returncode == 2


def test_every_setting_is_documented_in_the_configuration_table() -> None:
    configuration = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    # the first cell of each row of the configuration table, which may name several
    first_cells = [
        line.split("|")[1]
        for line in configuration.read_text().splitlines()
        if line.startswith("| `MAILROOM_")
    ]
    named = set(re.findall(r"`MAILROOM_([A-Z0-9_]+)`", " ".join(first_cells)))
    undocumented = [f for f in Settings.model_fields if f.upper() not in named]
    assert undocumented == [], f"add a row to the table in docs/configuration.md: {undocumented}"
