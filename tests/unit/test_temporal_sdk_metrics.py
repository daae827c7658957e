"""The Temporal SDK's metrics, buffered by its runtime, come out of mailroom's registry in
Prometheus form: counters summed, gauges as last set, durations bucketed in seconds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from temporalio.runtime import MetricBuffer, MetricBufferDurationFormat, Runtime, TelemetryConfig

from adapters.outbound.temporal_sdk_metrics import TemporalSdkMetrics

SDK = {"service_name": "temporal-core-sdk"}  # on every SDK metric
Q = {**SDK, "task_queue": "q"}


def test_the_sdks_counters_gauges_and_durations_are_exported() -> None:
    buffer = MetricBuffer(1000, MetricBufferDurationFormat.SECONDS)
    meter = Runtime(telemetry=TelemetryConfig(metrics=buffer)).metric_meter
    registry = CollectorRegistry()
    registry.register(TemporalSdkMetrics(buffer))
    polls = meter.create_counter("temporal_long_request", "long polls")
    polls.add(2, {"task_queue": "q"})
    polls.add(3, {"task_queue": "q"})
    meter.create_gauge("temporal_num_pollers", "pollers").set(4, {"task_queue": "q"})
    latency = meter.create_histogram_float("temporal_request_latency", "latency", "s")
    latency.record(0.02)
    latency.record(3.0)

    assert registry.get_sample_value("temporal_long_request_total", Q) == 5
    assert registry.get_sample_value("temporal_num_pollers", Q) == 4
    count = registry.get_sample_value("temporal_request_latency_seconds_count", SDK)
    assert count == 2
    under = registry.get_sample_value(
        "temporal_request_latency_seconds_bucket", {**SDK, "le": "0.025"}
    )
    assert under == 1
    polls.add(1, {"task_queue": "q"})  # drained at the next scrape, added to the total
    assert "temporal_long_request_total{" in generate_latest(registry).decode()
    assert registry.get_sample_value("temporal_long_request_total", Q) == 6


def test_a_histogram_of_a_count_is_bucketed_in_counts_not_seconds() -> None:
    buffer = MetricBuffer(1000, MetricBufferDurationFormat.SECONDS)
    meter = Runtime(telemetry=TelemetryConfig(metrics=buffer)).metric_meter
    registry = CollectorRegistry()
    registry.register(TemporalSdkMetrics(buffer))
    messages = meter.create_histogram("mailroom_thread_messages", "messages a thread took")
    for taken in (1, 3, 7, 40):
        messages.record(taken)

    def bucket(le: str) -> float | None:
        return registry.get_sample_value("mailroom_thread_messages_bucket", {**SDK, "le": le})

    assert (bucket("1.0"), bucket("3.0"), bucket("10.0"), bucket("50.0")) == (1, 2, 3, 4)
    assert bucket("0.001") is None
