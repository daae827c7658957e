from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.cli import build_parser
from orchestrator.flow_spec import env_prefix
from orchestrator.flows import FLOWS
from orchestrator.settings import Settings, SettingsError, load_settings, masked
from orchestrator.settings_checks import secret_values


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
        ("MAILROOM_HISTORY_FORMAT", "5", "MAILROOM_HISTORY_FORMAT"),
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


def test_durations_are_shown_in_iso_8601_and_read_back_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = masked(load_settings())
    assert shown["MAILROOM_ACK_DELAY"] == "PT30S" and shown["MAILROOM_BLOB_GRACE"] == "PT1H"
    assert shown["MAILROOM_SLA_AUTO_CLOSE_AFTER"] == "P5D"
    settings = load_settings()
    durations = [f"MAILROOM_{n.upper()}" for n, v in settings if isinstance(v, timedelta)]
    assert len(durations) >= 10 and all(shown[n].startswith("P") for n in durations)
    for name in durations:
        monkeypatch.setenv(name, shown[name])
    assert masked(load_settings()) == shown


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
    # every flow's worker tuning, `MAILROOM_<FLOW>_…`, and each flow's own settings
    generic = set(re.findall(r"`MAILROOM_<FLOW>_([A-Z0-9_]+)`", " ".join(first_cells)))
    for spec in FLOWS:
        prefix = env_prefix(spec.name).removeprefix("MAILROOM_")
        missing = [
            f
            for f in spec.settings.model_fields
            if f.upper() not in generic and prefix + f.upper() not in named
        ]
        assert missing == [], f"add a row to the table in docs/configuration.md: {missing}"


def test_a_reply_token_secret_under_32_bytes_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_REPLY_TOKEN_SECRET", "hunter2-short")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("MAILROOM_REPLY_TOKEN_SECRET: must be at least 32 bytes")
    assert "hunter2" not in str(error.value)
    monkeypatch.setenv("MAILROOM_REPLY_TOKEN_SECRET", "k" * 32)
    assert load_settings().reply_token_secret is not None


DURATIONS = sorted(
    name
    for name, field in Settings.model_fields.items()
    if field.annotation is timedelta and name != "ack_delay"  # 0: acknowledged at once
)


def test_the_ack_delay_may_be_zero_but_not_negative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_ACK_DELAY", "0")
    assert load_settings().ack_delay == timedelta(0)
    monkeypatch.setenv("MAILROOM_ACK_DELAY", "-5")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("MAILROOM_ACK_DELAY: ")


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", ["PT0S", "-PT1H", "0", "-30"])
def test_every_duration_must_be_positive(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"MAILROOM_{name.upper()}", value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"MAILROOM_{name.upper()}: "), message
    # ours, or the field's own bound where it declares one (blob_grace: 10 minutes)
    bounds = ("must be a positive duration", "greater than 0", "greater than or equal to")
    assert any(bound in message for bound in bounds), message


def test_a_negative_duration_is_shown_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_SUBJECT_WINDOW", "-5")
    with pytest.raises(SettingsError, match=r"got -5 s$"):  # not "-1 day, 23:59:55"
        load_settings()


@pytest.mark.parametrize(("value", "seconds"), [("90", 90.0), ("0.5", 0.5), ("PT2M", 120.0)])
def test_a_duration_may_be_a_number_of_seconds(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    monkeypatch.setenv("MAILROOM_SUBJECT_WINDOW", value)
    assert load_settings().subject_window.total_seconds() == seconds


def test_the_durations_are_found() -> None:
    assert {"subject_window", "approval_expires_after", "sla_reminder_after"} <= set(DURATIONS)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("mailroom.local;corp.example", "items are separated by commas, not ';'"),
        ("mailroom.local,,corp.example", "item 2 is empty"),
        ("mailroom.local,", "item 2 is empty"),
    ],
)
def test_list_syntax_is_checked(
    monkeypatch: pytest.MonkeyPatch, value: str, complaint: str
) -> None:
    monkeypatch.setenv("MAILROOM_DOMAINS", value)
    with pytest.raises(SettingsError, match=f"^MAILROOM_DOMAINS: {complaint}"):
        load_settings()


def test_an_empty_list_variable_is_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_APPROVERS", " ")
    assert load_settings().approvers == []


def test_an_unknown_variable_is_an_error_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_SMTP_PROT", "2600")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(
        "MAILROOM_SMTP_PROT: no such setting (did you mean MAILROOM_SMTP_PORT?)"
    )
    monkeypatch.setenv("MAILROOM_ZZZ", "1")  # nothing close: no suggestion, and counted
    with pytest.raises(SettingsError, match=r"\(and 1 more\)"):
        load_settings()


def test_every_field_is_a_known_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Derived from the fields, so a setting added later is never reported unknown."""
    for name in Settings.model_fields:
        monkeypatch.setenv(f"MAILROOM_{name.upper()}", "")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "no such setting" not in str(error.value)


def test_a_token_variable_named_by_an_imap_source_is_not_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_DOMAINS", "mailroom.local")
    monkeypatch.setenv(
        "MAILROOM_IMAP_SOURCES",
        "imaps://u@h/?auth=xoauth2&token_env=MAILROOM_GMAIL_TOKEN&mailbox=a@mailroom.local",
    )
    monkeypatch.setenv("MAILROOM_GMAIL_TOKEN", "ya29.x")
    assert len(load_settings().imap_sources) == 1


def test_a_token_variable_named_by_an_imap_source_in_mailroom_toml_is_not_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mailroom.toml").write_text(
        'domains = ["mailroom.local"]\n'
        'imap_sources = ["imaps://u@h/?auth=xoauth2&token_env=MAILROOM_GMAIL_TOKEN'
        '&mailbox=a@mailroom.local"]\n'
    )
    monkeypatch.setenv("MAILROOM_GMAIL_TOKEN", "ya29.x")
    assert len(load_settings().imap_sources) == 1
    monkeypatch.setenv("MAILROOM_GMAIL_TOKN", "ya29.x")  # still a misspelling: not named
    with pytest.raises(SettingsError, match="MAILROOM_GMAIL_TOKN: no such setting"):
        load_settings()


@pytest.mark.parametrize("grace", ["PT1M", "60", "PT9M59S"])
def test_a_blob_grace_under_ten_minutes_is_refused(
    monkeypatch: pytest.MonkeyPatch, grace: str
) -> None:
    monkeypatch.setenv("MAILROOM_BLOB_GRACE", grace)
    with pytest.raises(SettingsError, match="MAILROOM_BLOB_GRACE"):
        load_settings()
    monkeypatch.setenv("MAILROOM_BLOB_GRACE", "PT10M")
    assert load_settings().blob_grace == timedelta(minutes=10)


def test_an_unknown_key_in_mailroom_toml_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "mailroom.toml").write_text("smtp_prot = 2600\n")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(
        "mailroom.toml: 'smtp_prot' is no setting (did you mean smtp_port?)"
    )


# A password with each character that moves a URL's seams when not percent-encoded, and
# percent-encoded ones: neither the password nor any piece of it may be shown.
PASSWORDS = ["pa/ss-w0rd", "pa#ss-w0rd", "pa?ss-w0rd", "pa,ss-w0rd", "p@ss-w0rd", "pa?ss=w0rd"]
ENCODED = ["pa%2Fss-w0rd", "pa%23ss-w0rd", "pa%3Fss%2Cw0rd"]


def pieces(password: str) -> list[str]:
    """The password, decoded too, and its parts on either side of a separator."""
    from urllib.parse import unquote

    found = {password, unquote(password)}
    for separator in "/#?,@=%":
        found |= {p for p in unquote(password).split(separator) if len(p) >= 3}
    return sorted(found)


@pytest.mark.parametrize("password", PASSWORDS + ENCODED)
def test_an_imap_password_never_appears_in_an_error(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    # an error in the same URL (its mailbox is not ours), so the URL is described
    url = f"imaps://user:{password}@imap.example.com/INBOX?mailbox=x@elsewhere.example"
    monkeypatch.setenv("MAILROOM_IMAP_SOURCES", url)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("MAILROOM_IMAP_SOURCES: ")
    for piece in pieces(password):
        assert piece not in str(error.value), (piece, str(error.value))


@pytest.mark.parametrize("password", ["p@ss-w0rd", "pa,ss-w0rd", *ENCODED])
def test_an_imap_password_never_appears_in_mailroom_config(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    url = f"imaps://user:{password}@imap.example.com/INBOX?mailbox=support@mailroom.local"
    monkeypatch.setenv("MAILROOM_MAILBOXES", "support@mailroom.local")
    monkeypatch.setenv("MAILROOM_IMAP_SOURCES", url)
    settings = load_settings()
    assert len(settings.imap_sources) == 1, "a comma in a password does not split the URL"
    shown = masked(settings)
    assert shown["MAILROOM_IMAP_SOURCES"].startswith("imaps://user:********@imap.example.com")
    for piece in pieces(password):
        assert piece not in repr(shown), piece


def test_a_token_in_the_agent_urls_path_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "a1B2c3D4e5F6g7H8i9J0kLmNoP"
    url = f"https://gw.example/v1/{token}/chat/completions"
    monkeypatch.setenv("MAILROOM_AGENT_URL", url)
    monkeypatch.setenv("MAILROOM_AGENT_MODEL", "gpt-4o-mini-2024-07-18")
    settings = load_settings()
    assert masked(settings)["MAILROOM_AGENT_URL"] == (
        "https://gw.example/v1/********/chat/completions"
    )
    assert token in secret_values(settings)


def test_agent_url_credentials_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_AGENT_URL", "https://bob:hunter2@llm.example/v1?api_key=sk-123")
    monkeypatch.setenv("MAILROOM_AGENT_MODEL", "m")
    monkeypatch.setenv("MAILROOM_AGENT_API_KEY", "sk-abc")
    shown = masked(load_settings())
    assert shown["MAILROOM_AGENT_URL"] == "https://bob:********@llm.example/v1?api_key=********"
    for secret in ("hunter2", "sk-123", "sk-abc"):
        assert secret not in repr(shown)


def test_mailroom_config_shows_no_secret() -> None:
    secrets = {
        "MAILROOM_AGENT_URL": "https://bob:hunter2@llm.example/v1?key=sk-query",
        "MAILROOM_AGENT_MODEL": "m",
        "MAILROOM_AGENT_API_KEY": "sk-agent-key",
        "MAILROOM_TEMPORAL_API_KEY": "temporal-key",
        "MAILROOM_REPLY_TOKEN_SECRET": "r" * 40,
        "MAILROOM_MAILBOXES": "support@mailroom.local",
        "MAILROOM_IMAP_SOURCES": "imaps://u:imap%2Fpass@h/?mailbox=support@mailroom.local",
    }
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MAILROOM_")}
    for args in (["config"], ["config", "--json"]):
        result = run_cli(*args, env={**env, **secrets})
        assert result.returncode == 0, result.stderr
        for secret in ("hunter2", "sk-query", "sk-agent-key", "temporal-key", "r" * 40, "pass"):
            assert secret not in result.stdout + result.stderr, (args, secret)


def test_an_unexpected_error_is_one_line_and_exit_2_with_the_traceback_on_v(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "ledger.sqlite").mkdir()  # a directory where the ledger's database goes
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MAILROOM_")}
    env["MAILROOM_DATA_DIR"] = str(data)
    quiet = run_cli("pos", env=env)
    assert quiet.returncode == 2
    assert len(quiet.stderr.strip().splitlines()) == 1, quiet.stderr
    assert quiet.stderr.startswith("mailroom: unexpected ") and "-v" in quiet.stderr
    verbose = run_cli("-v", "pos", env=env)
    assert verbose.returncode == 2
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("mailroom: unexpected ")


def test_an_empty_templates_dir_means_the_shipped_templates_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for empty in ("", "  "):
        monkeypatch.setenv("MAILROOM_TEMPLATES_DIR", empty)
        assert load_settings().templates_dir is None, "not the working directory"


def test_a_relative_templates_dir_is_resolved_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILROOM_TEMPLATES_DIR", "mail/templates")
    assert load_settings().templates_dir == tmp_path.resolve() / "mail" / "templates"


def test_a_registered_flows_settings_are_known_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MAILROOM_DIGEST_TO", "ops@example.com")
    monkeypatch.setenv("MAILROOM_PROCUREMENT_MAX_CONCURRENT_ACTIVITIES", "20")
    load_settings()  # both are read by a registered flow's worker
    monkeypatch.setenv("MAILROOM_DIGEST_CRN", "0 7 * * *")
    with pytest.raises(SettingsError) as unknown:
        load_settings()
    assert str(unknown.value).startswith(
        "MAILROOM_DIGEST_CRN: no such setting (did you mean MAILROOM_DIGEST_CRON?)"
    )
    monkeypatch.delenv("MAILROOM_DIGEST_CRN")
    monkeypatch.setenv("MAILROOM_PROCUREMENT_MAX_CONCURRENT_ACTIVITIES", "0")
    with pytest.raises(SettingsError) as bad:
        load_settings()
    assert str(bad.value).startswith("MAILROOM_PROCUREMENT_MAX_CONCURRENT_ACTIVITIES: ")
    assert "\n" not in str(bad.value)


def test_a_worker_for_an_unknown_flow_is_refused_with_exit_2() -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MAILROOM_")}
    result = run_cli("worker", "--flows", "digest,nope", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mailroom: --flows: no flow named 'nope' (registered: "
        + ", ".join(f.name for f in FLOWS)
        + ")"
    )


def test_config_shows_every_flows_own_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MAILROOM_")}
    env |= {
        "MAILROOM_DATA_DIR": str(tmp_path),
        "MAILROOM_DIGEST_TO": "ops@example.com",
        "MAILROOM_INVOICES_TOLERANCE": "0.05",
    }
    shown = run_cli("config", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "MAILROOM_DIGEST_TO=ops@example.com" in lines
    assert "MAILROOM_INVOICES_TOLERANCE=0.05" in lines
    assert "MAILROOM_PROCUREMENT_MAX_CACHED_WORKFLOWS=" in lines
