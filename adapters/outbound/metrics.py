"""mailroom's own metrics for Prometheus (issue 21), kept in a prometheus-client registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

# A hand-off is a signal-with-start per thread plus the stores' writes: milliseconds when
# all is well, seconds when Temporal is slow, up to the gateway's timeouts when it is down.
HANDOFF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PrometheusMetrics:
    """IntakeMetrics (use_cases/ports.py) as Prometheus counters and a histogram."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.received = Counter(
            "mailroom_smtp_mails_received_total",
            "Mails whose body arrived over SMTP (DATA), before any check or hand-off.",
            registry=registry,
        )
        self.answered = Counter(
            "mailroom_smtp_mails_total",
            "SMTP answers about a mail: every answer to DATA, refusals and deferrals at "
            "MAIL and RCPT; by stage, outcome (accepted/deferred/refused), code and reason.",
            ["stage", "outcome", "code", "reason"],
            registry=registry,
        )
        self.handoff = Histogram(
            "mailroom_handoff_seconds",
            "Time to hand a received mail to its threads (Temporal signal-with-start and "
            "the stores), by how the hand-off ended.",
            ["outcome"],
            buckets=HANDOFF_BUCKETS,
            registry=registry,
        )
        self.held = Gauge(
            "mailroom_smtp_held_senders",
            "SMTP senders held at MAIL now, waiting for the hand-off backlog to clear.",
            registry=registry,
        )

    def mail_received(self) -> None:
        self.received.inc()

    def mail_answered(self, stage: str, outcome: str, code: str, reason: str) -> None:
        self.answered.labels(stage=stage, outcome=outcome, code=code, reason=reason).inc()

    def handoff_took(self, outcome: str, seconds: float) -> None:
        self.handoff.labels(outcome=outcome).observe(seconds)

    def senders_held(self, count: int) -> None:
        self.held.set(count)
