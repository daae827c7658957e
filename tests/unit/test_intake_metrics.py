"""mailroom's own metrics in one process (issue 21): every metric of the catalogue that the
process records is in a scrape from the start; each intake source's last accepted mail and
expected interval; the IMAP sources' fetches, errors and quarantines; the hand-off backlog
read at scrape time; duplicates dropped at intake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from adapters.inbound.imap_errors import IMAP_ERRORS, session_error
from adapters.inbound.imap_session import LoginFailed
from adapters.outbound.metrics import PrometheusMetrics
from adapters.outbound.temporal_backlog import HandoffBacklog
from orchestrator.intake_sources import declare_sources, smtp_taken
from orchestrator.settings import Settings
from use_cases.metric_catalogue import CATALOGUE, exported_names
from use_cases.ports import HandoffFailed

IMAP = (
    "imap://robot:pw@imap.example:143/INBOX?tls=off&mailbox=support@mailroom.local&name=imap-main"
)
PROCESS_METRICS = [spec for spec in CATALOGUE if spec.origin == "process"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Backlog:
    """What the metrics read of the hand-off backlog (use_cases/ports.py: BacklogView)."""

    def __init__(self) -> None:
        self.age = 0.0
        self.mails = 0


def metrics() -> tuple[PrometheusMetrics, CollectorRegistry, Clock]:
    registry, clock = CollectorRegistry(), Clock()
    return PrometheusMetrics(registry, clock), registry, clock


def test_every_process_metric_of_the_catalogue_is_in_a_scrape_from_the_start() -> None:
    _, registry, _ = metrics()
    scraped = generate_latest(registry).decode()
    for spec in PROCESS_METRICS:
        typed = f"{spec.name}_total" if spec.kind == "counter" else spec.name
        assert f"# TYPE {typed} {spec.kind}\n" in scraped, spec.name
        if not spec.labels:
            for name in exported_names(spec):
                assert f"\n{name} 0.0\n" in scraped, name


def test_the_catalogue_labels_are_the_exported_ones() -> None:
    m, _, _ = metrics()
    exported = {
        wrapper._name: wrapper  # the base name, `_total` left out as in the catalogue
        for wrapper in vars(m).values()
        if isinstance(wrapper, MetricWrapperBase)
    }
    assert {spec.name for spec in PROCESS_METRICS} == set(exported)
    for spec in PROCESS_METRICS:
        wrapper = exported[spec.name]
        assert wrapper._type == spec.kind, spec.name
        if spec.labels:  # refused unless exactly these label names
            wrapper.labels(**{label: "x" for label in spec.labels})


def test_every_process_metric_is_described_as_the_catalogue_describes_it() -> None:
    """One text per metric: the SDK's exporter takes the catalogue's, so must this one."""
    _, registry, _ = metrics()
    described = {family.name: family.documentation for family in registry.collect()}
    for spec in PROCESS_METRICS:
        assert described[spec.name] == spec.help, spec.name


def test_a_source_counts_as_accepting_at_start_and_again_on_each_mail() -> None:
    m, registry, clock = metrics()
    m.sources_expected({"support@mailroom.local": 4 * 3600.0, "imap-main": 0.0})
    last = "mailroom_intake_last_accepted_timestamp_seconds"
    expected = "mailroom_intake_expected_interval_seconds"
    assert registry.get_sample_value(last, {"source": "support@mailroom.local"}) == 1_000.0
    assert registry.get_sample_value(expected, {"source": "support@mailroom.local"}) == 14_400.0
    assert registry.get_sample_value(expected, {"source": "imap-main"}) == 0.0
    clock.now = 5_000.0
    m.mail_taken("support@mailroom.local")
    assert registry.get_sample_value(last, {"source": "support@mailroom.local"}) == 5_000.0
    assert registry.get_sample_value(last, {"source": "imap-main"}) == 1_000.0


def test_a_source_that_is_not_configured_never_becomes_a_label() -> None:
    m, registry, _ = metrics()
    m.sources_expected({"support@mailroom.local": 0.0})
    m.mail_taken("someone-else@mailroom.local")
    assert "someone-else" not in generate_latest(registry).decode()


def test_smtp_mail_to_a_listed_mailbox_marks_that_mailbox(tmp_path: Path) -> None:
    m, registry, clock = metrics()
    settings = Settings(
        data_dir=tmp_path,
        mailboxes=["support@mailroom.local", "sales@mailroom.local"],
        intake_expected_interval="1h,sales@mailroom.local=0",
    )
    declare_sources(m, settings, {"smtp"})
    clock.now = 2_000.0
    smtp_taken(m, settings, ["support@mailroom.local"])
    last = "mailroom_intake_last_accepted_timestamp_seconds"
    assert registry.get_sample_value(last, {"source": "support@mailroom.local"}) == 2_000.0
    assert registry.get_sample_value(last, {"source": "sales@mailroom.local"}) == 1_000.0
    expected = "mailroom_intake_expected_interval_seconds"
    assert registry.get_sample_value(expected, {"source": "support@mailroom.local"}) == 3600.0
    assert registry.get_sample_value(expected, {"source": "sales@mailroom.local"}) == 0.0


def test_smtp_accepting_any_local_part_is_one_source_named_smtp(tmp_path: Path) -> None:
    m, registry, clock = metrics()
    settings = Settings(data_dir=tmp_path, intake_expected_interval="30m")
    declare_sources(m, settings, {"smtp", "worker"})
    clock.now = 3_000.0
    smtp_taken(m, settings, ["anyone@mailroom.local"])
    scraped = generate_latest(registry).decode()
    assert 'mailroom_intake_last_accepted_timestamp_seconds{source="smtp"} 3000.0' in scraped
    assert "anyone" not in scraped


def test_a_process_without_intake_declares_no_source(tmp_path: Path) -> None:
    m, registry, _ = metrics()
    declare_sources(m, Settings(data_dir=tmp_path), {"worker", "server"})
    assert "source=" not in generate_latest(registry).decode()


def test_the_backlog_is_read_when_scraped_never_stale() -> None:
    m, registry, _ = metrics()
    backlog = Backlog()
    m.watch_backlog(backlog)
    assert registry.get_sample_value("mailroom_backlog_age_seconds") == 0.0
    backlog.age, backlog.mails = 12.5, 7
    assert registry.get_sample_value("mailroom_backlog_age_seconds") == 12.5
    assert registry.get_sample_value("mailroom_backlog_mails") == 7.0


def test_intake_duplicates_are_counted_where_dropped() -> None:
    m, registry, _ = metrics()
    # on the scrape at 0 from the start: rate() misses the first count of a series born at 1
    assert registry.get_sample_value("mailroom_duplicates_dropped_total", {"where": "intake"}) == 0
    m.duplicate_dropped("intake")
    m.duplicate_dropped("intake")
    assert registry.get_sample_value("mailroom_duplicates_dropped_total", {"where": "intake"}) == 2


def test_an_imap_source_counts_fetches_errors_and_quarantines() -> None:
    m, registry, clock = metrics()
    m.fetched("imap-main", 3)
    clock.now = 1_500.0
    m.fetched("imap-main", 0)
    m.poll_failed("imap-main", "login")
    m.quarantined("imap-main")
    source = {"source": "imap-main"}
    assert registry.get_sample_value("mailroom_imap_mails_fetched_total", source) == 3.0
    assert registry.get_sample_value("mailroom_imap_last_fetch_timestamp_seconds", source) == 1500
    errors = {"source": "imap-main", "error": "login"}
    assert registry.get_sample_value("mailroom_imap_errors_total", errors) == 1.0
    assert registry.get_sample_value("mailroom_imap_quarantined_total", source) == 1.0


def test_an_imap_source_that_never_fetches_is_on_the_scrape_from_the_start(
    tmp_path: Path,
) -> None:
    """A source failing from its first poll (a wrong password) must still be seen failing:
    its errors rise from 0 (not from a series born at 1, which increase() misses) and its
    last fetch is the start until one succeeds (no series: no "stale" or "failing")."""
    m, registry, clock = metrics()
    settings = Settings(data_dir=tmp_path, imap_sources=[IMAP])
    declare_sources(m, settings, {"imap"})
    clock.now = 9_000.0
    source = {"source": "imap-main"}
    assert registry.get_sample_value("mailroom_imap_last_fetch_timestamp_seconds", source) == 1_000
    assert registry.get_sample_value("mailroom_imap_mails_fetched_total", source) == 0
    assert registry.get_sample_value("mailroom_imap_quarantined_total", source) == 0
    for error in IMAP_ERRORS:
        labels = {**source, "error": error}
        assert registry.get_sample_value("mailroom_imap_errors_total", labels) == 0, error


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        ("connecting", ConnectionRefusedError(), "connect"),
        ("connecting", LoginFailed("token unset"), "login"),
        ("selecting", OSError("select failed: Mailbox doesn't exist"), "fetch"),
        ("fetching", TimeoutError(), "fetch"),
        ("idle", OSError("reset"), "fetch"),
        ("fetching", HandoffFailed("Temporal away"), "other"),
        ("paused: disk", OSError(), "other"),
    ],
)
def test_an_imap_session_error_is_named_by_a_kind_from_a_fixed_list(
    status: str, error: Exception, kind: str
) -> None:
    assert session_error(status, error) == kind


async def test_the_backlog_counts_mails_handed_off_until_seen_applied() -> None:
    pending: dict[str, float | None] = {"t1": 3.0, "t2": None}

    async def task_age(workflow_id: str) -> float | None:
        return pending[workflow_id]

    backlog = HandoffBacklog(task_age, limit=timedelta(seconds=10))
    m, registry, _ = metrics()
    m.watch_backlog(backlog)
    for thread in ("t1", "t1", "t2"):
        backlog.handed_off(thread)
    assert registry.get_sample_value("mailroom_backlog_mails") == 3.0
    await backlog.probe()  # t2 applied; t1 still waits
    assert registry.get_sample_value("mailroom_backlog_mails") == 2.0
    age = registry.get_sample_value("mailroom_backlog_age_seconds")
    assert age is not None and age >= 3.0
