"""What workflows and activities count through the SDK's meter is on the scrape from the
start: every catalogue name of theirs, described and typed, before anything counted it; a
histogram of counts bucketed as counts."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.runtime import MetricBuffer, MetricBufferDurationFormat, Runtime, TelemetryConfig

from activities import metrics as activity_metrics
from adapters.outbound.temporal_sdk_metrics import TemporalSdkMetrics
from use_cases.mail import DeliveryReport, MessageKind
from use_cases.metric_catalogue import CATALOGUE
from workflows import metrics as workflow_metrics
from workflows.flow import mail_kind
from workflows.metrics import bounce_class, not_answered_reason

METERED = [spec for spec in CATALOGUE if spec.origin in ("workflow", "activity")]


def scraped(registry: CollectorRegistry) -> dict[str, tuple[str, str, int]]:
    """name: (type, help, number of samples), as a scraper reads the exposition."""
    text = generate_latest(registry).decode()
    return {
        family.name: (family.type, family.documentation, len(family.samples))
        for family in text_string_to_metric_families(text)
    }


def new_exporter() -> tuple[CollectorRegistry, Runtime]:
    buffer = MetricBuffer(1000, MetricBufferDurationFormat.SECONDS)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    registry = CollectorRegistry()
    registry.register(TemporalSdkMetrics(buffer))
    return registry, runtime


def test_a_scrape_lists_every_workflow_and_activity_metric_before_any_sample() -> None:
    registry, _ = new_exporter()

    families = scraped(registry)

    for spec in METERED:
        assert families[spec.name] == (spec.kind, spec.help, 0), spec.name


def test_a_recorded_catalogue_metric_keeps_the_catalogues_description() -> None:
    registry, runtime = new_exporter()
    opened = runtime.metric_meter.create_counter("mailroom_threads_opened")

    opened.add(1, {"mailbox": "buy@example.com"})

    spec = next(s for s in METERED if s.name == "mailroom_threads_opened")
    assert scraped(registry)["mailroom_threads_opened"] == ("counter", spec.help, 1)
    assert list(scraped(registry)).count("mailroom_threads_opened") == 1


def test_messages_per_thread_are_bucketed_as_counts() -> None:
    registry, runtime = new_exporter()
    messages = runtime.metric_meter.create_histogram("mailroom_thread_messages")

    messages.record(2, {"mailbox": "m"})
    messages.record(40, {"mailbox": "m"})

    def bucket(le: str) -> float | None:
        labels = {"service_name": "temporal-core-sdk", "mailbox": "m", "le": le}
        return registry.get_sample_value("mailroom_thread_messages_bucket", labels)

    assert (bucket("1.0"), bucket("2.0"), bucket("50.0"), bucket("+Inf")) == (0, 1, 2, 2)


def test_bounces_are_classed_by_their_status() -> None:
    assert bounce_class(DeliveryReport(status="5.1.1")) == "hard"
    assert bounce_class(DeliveryReport(status="4.2.2")) == "soft"
    assert bounce_class(DeliveryReport(action="delayed", status="")) == "soft"
    assert bounce_class(None) == "other"


def test_unanswered_automatic_mail_is_counted_by_a_fixed_reason() -> None:
    assert not_answered_reason(MessageKind.BOUNCE) == "bounce"
    assert not_answered_reason(MessageKind.OWN) == "loop"
    assert not_answered_reason(MessageKind.AUTO_REPLY) == "machine_mail"


def test_a_flows_mail_is_of_the_kind_its_recipient_makes_it() -> None:
    assert mail_kind("answer", None, None) == "answer"
    assert mail_kind("approval", ("boss@example.com",), "boss@example.com") == "approval_request"
    assert mail_kind("escalation", ("agent@example.com",), "agent@example.com") == "notification"


def test_each_metered_metric_is_recorded_where_the_catalogue_says() -> None:
    """`origin` tells which meter adds which labels (`workflow_type` or `activity_type`): a
    metric the workflows record must not be listed as an activity's, and every metered name
    of the catalogue is recorded by one of them (none declared that nothing counts)."""
    recorders = {
        "workflow": Path(workflow_metrics.__file__).read_text(),
        "activity": Path(activity_metrics.__file__).read_text(),
    }
    for spec in METERED:
        assert f'"{spec.name}"' in recorders[spec.origin], (spec.name, spec.origin)
