"""MAILROOM_INTAKE_EXPECTED_INTERVAL: a default for every intake source and overrides per
source (`0,support@mailroom.local=4h,imap-main=30m`); anything else stops the start-up with
one line naming the setting. IMAP sources are named by `name=` (or their checkpoint key)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from adapters.inbound.imap_source import SourceError, parse_source
from adapters.outbound.metrics import PrometheusMetrics
from orchestrator.intake_intervals import ExpectedIntervals, parse_expected_intervals
from orchestrator.intake_sources import declare_sources
from orchestrator.settings import Settings
from tests.support import run_mailroom

IMAP = "imap://robot:pw@imap.example:143/INBOX?tls=off&mailbox=support@mailroom.local"


@pytest.mark.parametrize(
    ("text", "default", "per_source"),
    [
        ("0", 0.0, {}),
        ("", 0.0, {}),
        ("90", 90.0, {}),
        ("4h", 14_400.0, {}),
        ("1.5m", 90.0, {}),
        (" 2d , support@mailroom.local = 30m ", 172_800.0, {"support@mailroom.local": 1800.0}),
        ("imap-main=45s", 0.0, {"imap-main": 45.0}),
    ],
)
def test_a_default_and_overrides_per_source_are_read(
    text: str, default: float, per_source: dict[str, float]
) -> None:
    assert parse_expected_intervals(text) == ExpectedIntervals(default, per_source)


def test_a_source_not_named_gets_the_default() -> None:
    intervals = parse_expected_intervals("1h,imap-main=30m")
    assert intervals.for_source("imap-main") == 1800.0
    assert intervals.for_source("sales@mailroom.local") == 3600.0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("4x", "'4x' is not a duration"),
        ("-5m", "'-5m' is not a duration"),
        ("1h,2h", "a second default"),
        ("a=1h,a=2h", "give each source once"),
        ("=1h", "give each source once"),
    ],
)
def test_a_malformed_interval_is_refused_naming_the_entry(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_expected_intervals(text)


def test_an_override_must_name_a_configured_source(tmp_path: Path) -> None:
    configured = Settings(
        data_dir=tmp_path,
        mailboxes=["support@mailroom.local"],
        imap_sources=[IMAP + "&name=imap-main"],
        intake_expected_interval="support@mailroom.local=4h,imap-main=30m",
    )
    assert configured.intake_expected_interval.endswith("imap-main=30m")
    with pytest.raises(ValidationError, match=r"'sales@mailroom\.local' is no source"):
        Settings(
            data_dir=tmp_path,
            mailboxes=["support@mailroom.local"],
            intake_expected_interval="sales@mailroom.local=4h",
        )


def test_a_mailbox_is_named_in_any_spelling_its_own_setting_accepts(tmp_path: Path) -> None:
    """MAILROOM_MAILBOXES takes `Support@Mailroom.LOCAL` (and keeps it lower case): the
    same text in the interval setting names that mailbox, not "no source"."""
    settings = Settings(
        data_dir=tmp_path,
        mailboxes=["Support@Mailroom.LOCAL"],
        intake_expected_interval="Support@Mailroom.LOCAL=4h",
    )
    registry = CollectorRegistry()
    declare_sources(PrometheusMetrics(registry), settings, {"smtp"})
    expected = "mailroom_intake_expected_interval_seconds"
    assert registry.get_sample_value(expected, {"source": "support@mailroom.local"}) == 14_400


def test_an_imap_source_is_named_by_name_or_else_by_its_key() -> None:
    assert parse_source(IMAP + "&name=imap-main").source_name == "imap-main"
    assert parse_source(IMAP).source_name == "robot@imap.example:143/INBOX"
    with pytest.raises(SourceError, match="name must be"):
        parse_source(IMAP + "&name=has space")


def test_two_imap_sources_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="two sources named 'main'"):
        Settings(
            data_dir=tmp_path,
            imap_sources=[IMAP + "&name=main", IMAP.replace("INBOX", "Other") + "&name=main"],
        )


def test_an_imap_source_named_as_an_smtp_source_is_refused(tmp_path: Path) -> None:
    """One `source` series for both would keep a dead IMAP source looking fresh while SMTP
    mail comes in (and the other way round): the intake-quiet alert would never fire."""
    with pytest.raises(ValidationError, match=r"'support@mailroom\.local' names an SMTP source"):
        Settings(
            data_dir=tmp_path,
            mailboxes=["support@mailroom.local"],
            imap_sources=[IMAP + "&name=support@mailroom.local"],
        )
    with pytest.raises(ValidationError, match="'smtp' names an SMTP source"):
        Settings(data_dir=tmp_path, imap_sources=[IMAP + "&name=smtp"])


async def test_a_bad_interval_stops_mailroom_in_one_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATA_DIR": str(tmp_path),
        "MAILROOM_INTAKE_EXPECTED_INTERVAL": "4 hours",
    }
    code, _, err = await run_mailroom("config", env=env)
    assert code == 2
    assert err == (
        "mailroom: MAILROOM_INTAKE_EXPECTED_INTERVAL: '4 hours' is not a duration "
        "(a number and s, m, h or d)\n"
    )
