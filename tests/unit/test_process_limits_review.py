"""Review of issue 19's N SMTP processes: the split limits keep the promises of
docs/configuration.md "Limits with N SMTP processes" (N processes never admit more than
configured; a large mail is not refused while the configured budget has room)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.inbound.smtp import SmtpInboundHandler
from orchestrator.cli_errors import CliError
from orchestrator.process_roles import limit_shares
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError
from use_cases.mailboxes import Mailboxes


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def shares_or_refused(settings: Settings, count: int) -> dict[str, str] | None:
    try:
        return limit_shares(settings, count)
    except (CliError, StartupError):
        return None  # refusing the combination at start is a fine answer too


@pytest.mark.parametrize(
    "setting",
    [
        "smtp_max_connections_per_client",
        "smtp_threads_per_client_per_minute",
        "max_in_flight",
    ],
)
def test_four_processes_never_admit_more_than_a_total_of_two(setting: str) -> None:
    shares = shares_or_refused(Settings.model_validate({setting: 2}), 4)
    if shares is not None:
        assert 4 * int(shares[f"MAILROOM_{setting.upper()}"]) <= 2


async def test_a_large_mail_is_not_deferred_while_the_configured_budget_has_room() -> None:
    settings = Settings()  # 256 MiB of pending bodies in all, mail up to 25 MiB
    shares = shares_or_refused(settings, 16)
    if shares is None:
        return
    process = SmtpInboundHandler(
        Mailboxes(["mailroom.local"]),
        lambda *_: None,  # type: ignore[arg-type]
        max_pending_bytes=int(shares["MAILROOM_SMTP_MAX_PENDING_BYTES"]),
    )
    process.pending_bytes = 10_000  # one small mail awaiting its hand-off in this process
    # 16 x 10 KB pending is far under 256 MiB, yet a 20 MiB mail (SIZE=) is answered 451.
    assert process.pending_refusal("DATA", 20 * 1024 * 1024, None) is None
