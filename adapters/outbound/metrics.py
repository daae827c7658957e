"""mailroom's own metrics for Prometheus (issue 21), kept in a prometheus-client registry.

Every metric is created (so declared: HELP and TYPE in every scrape) when the process
starts; unlabelled ones show 0 until they count. Names, kinds and labels are the contract of
use_cases/metric_catalogue.py (tests/unit/test_prometheus_metrics.py holds them to it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from use_cases.metric_catalogue import BY_NAME
from use_cases.ports import BacklogView

# A hand-off is a signal-with-start per thread plus the stores' writes: milliseconds when
# all is well, seconds when Temporal is slow, up to the gateway's timeouts when it is down.
HANDOFF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def counter(name: str, registry: CollectorRegistry) -> Counter:
    """The catalogue's counter `name`: its text and labels (`_total` added by the client)."""
    spec = BY_NAME[name]
    return Counter(name, spec.help, spec.labels, registry=registry)


def gauge(name: str, registry: CollectorRegistry) -> Gauge:
    spec = BY_NAME[name]
    return Gauge(name, spec.help, spec.labels, registry=registry)


class PrometheusMetrics:
    """IntakeMetrics and ImapMetrics (use_cases/ports.py) as Prometheus metrics."""

    def __init__(
        self, registry: CollectorRegistry = REGISTRY, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self._smtp_metrics(registry)
        self._intake_metrics(registry)
        self._imap_metrics(registry)
        self.sources: frozenset[str] = frozenset()

    def _smtp_metrics(self, registry: CollectorRegistry) -> None:
        self.received = counter("mailroom_smtp_mails_received", registry)
        self.answered = counter("mailroom_smtp_mails", registry)
        spec = BY_NAME["mailroom_handoff_seconds"]
        self.handoff = Histogram(
            spec.name, spec.help, spec.labels, buckets=HANDOFF_BUCKETS, registry=registry
        )
        self.held = gauge("mailroom_smtp_held_senders", registry)
        self.closed = counter("mailroom_smtp_connections_closed", registry)

    def _intake_metrics(self, registry: CollectorRegistry) -> None:
        self.last_accepted = gauge("mailroom_intake_last_accepted_timestamp_seconds", registry)
        self.expected_interval = gauge("mailroom_intake_expected_interval_seconds", registry)
        self.backlog_age = gauge("mailroom_backlog_age_seconds", registry)
        self.backlog_mails = gauge("mailroom_backlog_mails", registry)
        self.duplicates = counter("mailroom_duplicates_dropped", registry)
        # the one place that drops them (TemporalThreadGateway): 0 until the first, which
        # rate() would miss in a series born at 1
        self.duplicates.labels(where="intake")

    def _imap_metrics(self, registry: CollectorRegistry) -> None:
        self.last_fetch = gauge("mailroom_imap_last_fetch_timestamp_seconds", registry)
        self.imap_fetched = counter("mailroom_imap_mails_fetched", registry)
        self.imap_errors = counter("mailroom_imap_errors", registry)
        self.imap_quarantined = counter("mailroom_imap_quarantined", registry)

    def mail_received(self) -> None:
        self.received.inc()

    def mail_answered(self, stage: str, outcome: str, code: str, reason: str) -> None:
        self.answered.labels(stage=stage, outcome=outcome, code=code, reason=reason).inc()

    def handoff_took(self, outcome: str, seconds: float) -> None:
        self.handoff.labels(outcome=outcome).observe(seconds)

    def senders_held(self, count: int) -> None:
        self.held.set(count)

    def connection_closed(self, code: str, reason: str) -> None:
        self.closed.labels(code=code, reason=reason).inc()

    def sources_expected(self, intervals: Mapping[str, float]) -> None:
        now = self.clock()
        self.sources |= frozenset(intervals)
        for source, seconds in intervals.items():
            self.expected_interval.labels(source=source).set(seconds)
            self.last_accepted.labels(source=source).set(now)

    def mail_taken(self, source: str) -> None:
        if source in self.sources:  # never a label value from the mail itself
            self.last_accepted.labels(source=source).set(self.clock())

    def duplicate_dropped(self, where: str) -> None:
        self.duplicates.labels(where=where).inc()

    def watch_backlog(self, backlog: BacklogView) -> None:
        # read at each scrape: never stale, and nothing to update on the hand-off path
        self.backlog_age.set_function(lambda: backlog.age)
        self.backlog_mails.set_function(lambda: backlog.mails)

    def sources_polled(self, sources: Collection[str], errors: Collection[str]) -> None:
        for source in sources:
            self.last_fetch.labels(source=source).set(self.clock())
            self.imap_fetched.labels(source=source)
            self.imap_quarantined.labels(source=source)
            for error in errors:
                self.imap_errors.labels(source=source, error=error)

    def fetched(self, source: str, mails: int) -> None:
        self.last_fetch.labels(source=source).set(self.clock())
        self.imap_fetched.labels(source=source).inc(mails)

    def poll_failed(self, source: str, error: str) -> None:
        self.imap_errors.labels(source=source, error=error).inc()

    def quarantined(self, source: str) -> None:
        self.imap_quarantined.labels(source=source).inc()
