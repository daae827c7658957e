"""The daily digest's text, its input, and the settings that switch it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from orchestrator.digest import DIGEST_SCHEDULE, DigestSettings, digest_schedule
from use_cases.digest import DigestInput, DigestRow, digest_subject, digest_text

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def row(reference: str, days: float, stage: str, subject: str = "Laptops") -> DigestRow:
    opened = NOW - timedelta(days=days)
    flow = "support" if stage == "escalated" else "procurement"
    return DigestRow(reference=reference, opened_at=opened, flow=flow, stage=stage, subject=subject)


def test_escalated_threads_come_first_then_the_open_ones_oldest_first() -> None:
    rows = [
        row("#NEW", 0.1, "awaiting_approval"),
        row("#ESC", 2.5, "escalated"),
        row("#OLD", 3, "x"),
    ]
    text = digest_text(rows, NOW)
    assert text.splitlines()[0] == "Threads at 2026-12-05 07:00 UTC: 3 open, 1 escalated."
    order = [text.index(reference) for reference in ("#ESC", "#OLD", "#NEW")]
    assert order == sorted(order)
    assert "Escalated (waiting for a person): 1" in text
    assert "2d 12h" in text and "2h" in text  # ages
    assert digest_subject(rows) == "mailroom digest: 3 open, 1 escalated"


def test_control_characters_from_mail_never_reach_the_digest() -> None:
    hostile = "Invoice\x1b[31m due\r\nBcc: x@evil.example\u202e"
    text = digest_text([row("#A1\x07", 1, "escalated", hostile)], NOW)
    assert not any(ch in text for ch in "\x1b\r\x07\u202e")
    assert "Invoice [31m due Bcc: x@evil.example" in text
    assert text.count("\n") == len(text.splitlines())  # no line but the digest's own


def test_an_empty_digest_says_there_is_nothing_open() -> None:
    text = digest_text([], NOW)
    assert "0 open, 0 escalated" in text
    assert "Open: 0" in text


def test_the_digest_input_takes_comma_separated_addresses_and_refuses_others() -> None:
    assert DigestInput.model_validate({"to": "Ops@Example.com, b@example.org"}).to == (
        "ops@example.com",
        "b@example.org",
    )
    for bad in ("", "nobody", "a@b", "x@example.com\r\nBcc: y@evil.example"):
        with pytest.raises(ValidationError):
            DigestInput.model_validate({"to": bad})
    with pytest.raises(ValidationError):
        DigestInput.model_validate({"to": "a@example.com", "extra": "1"})


def test_no_digest_schedule_unless_someone_is_to_get_it() -> None:
    assert digest_schedule(DigestSettings()) is None
    kept = digest_schedule(DigestSettings(to=["ops@example.com"], cron="30 6 * * 1-5"))
    assert kept is not None
    assert (kept.schedule_id, kept.cron) == (DIGEST_SCHEDULE, "30 6 * * 1-5")
    assert kept.input == DigestInput(to=("ops@example.com",))


@pytest.mark.parametrize(
    ("cron", "said"),
    [
        ("61 7 * * *", "the minute is 0-59"),
        ("0 24 * * *", "the hour is 0-23"),
        ("0 7 * *", "5 fields"),
        ("0 7 * * MON;rm", "is not a cron weekday"),
    ],
)
def test_a_bad_digest_cron_is_refused_naming_the_field(cron: str, said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        DigestSettings(cron=cron)


def test_a_cron_with_ranges_steps_and_names_is_taken() -> None:
    assert DigestSettings(cron="*/15 6-18 * * MON-FRI").cron == "*/15 6-18 * * MON-FRI"
