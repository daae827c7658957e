"""The Temporal SDK's own metrics (its Core's: requests, polls, task latencies, slots,
sticky cache) and those mailroom's workflows and activities record through the SDK's metric
meter (the catalogue's `workflow` / `activity` origins), handed to Python through a
`MetricBuffer` and exported by prometheus-client on mailroom's endpoint: one port per
process, one scrape. The catalogue's are listed (HELP and TYPE) from the first scrape, before
anything counted them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    BufferedMetricUpdate,
    MetricBuffer,
)

from use_cases.metric_catalogue import CATALOGUE, MetricSpec

# Durations arrive in seconds (MetricBufferDurationFormat.SECONDS): from a poll's
# milliseconds to a long poll's minute; an agent call's too (an in-process agent's
# milliseconds to a model's minute, AGENT_TIMEOUT).
SDK_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120
)  # fmt: skip
# What the SDK's meter records for mailroom: declared from the start.
METERED = tuple(spec for spec in CATALOGUE if spec.origin in ("workflow", "activity"))
# A histogram of something else counts things (mailroom_thread_messages): whole numbers.
COUNT_BUCKETS: tuple[float, ...] = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
METERED_BY_NAME = {spec.name: spec for spec in METERED}
Labels = tuple[tuple[str, str], ...]
SECONDS_UNITS = {"s", "duration"}  # a duration in the SECONDS format is "s"


@dataclass
class Series:
    kind: int
    description: str
    bounds: tuple[float, ...] = SDK_BUCKETS
    value: float = 0.0  # a counter's total, a gauge's last value, a histogram's sum
    count: int = 0
    buckets: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.buckets = self.buckets or [0] * len(self.bounds)


class TemporalSdkMetrics(Collector):
    """A prometheus-client collector over the SDK's buffered updates: counters summed,
    gauges as last set, histograms bucketed here. Drained at each scrape and by `drain`
    (call it often: a full buffer drops updates)."""

    def __init__(self, buffer: MetricBuffer) -> None:
        self._buffer = buffer
        self._lock = threading.Lock()
        self._series: dict[tuple[str, Labels], Series] = {}

    def drain(self) -> None:
        with self._lock:
            for update in self._buffer.retrieve_updates():
                self._apply(update)

    def _apply(self, update: BufferedMetricUpdate) -> None:
        metric = update.metric
        name = exported_name(metric.name, metric.unit, metric.kind)
        key = (name, labels_of(update.attributes))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = new_series(name, metric.kind, metric.description)
        value = float(update.value)
        if series.kind == BUFFERED_METRIC_KIND_COUNTER:
            series.value += value
        elif series.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
            series.value += value
            series.count += 1
            for i, bound in enumerate(series.bounds):
                if value <= bound:
                    series.buckets[i] += 1
        else:
            series.value = value

    def collect(self) -> Iterable[Metric]:
        self.drain()
        with self._lock:
            families: dict[str, Metric] = {}
            for (name, labels), series in sorted(self._series.items()):
                family = families.get(name)
                if family is None:
                    family = families[name] = Metric(name, series.description, kind(series))
                add_samples(family, name, dict(labels), series)
        return [*families.values(), *unseen(families)]


def unseen(families: Mapping[str, Metric]) -> list[Metric]:
    """The catalogue's metered names nothing has recorded yet: their HELP and TYPE only."""
    return [declared(spec) for spec in METERED if spec.name not in families]


def declared(spec: MetricSpec) -> Metric:
    return Metric(spec.name, spec.help, spec.kind)


def new_series(name: str, metric_kind: int, description: str | None) -> Series:
    """A catalogue metric is described by the catalogue (the meter is given no text)."""
    spec = METERED_BY_NAME.get(name)
    text = spec.help if spec is not None else description or name
    return Series(metric_kind, text, SDK_BUCKETS if name.endswith("_seconds") else COUNT_BUCKETS)


def add_samples(family: Metric, name: str, labels: dict[str, str], series: Series) -> None:
    if series.kind == BUFFERED_METRIC_KIND_COUNTER:
        family.add_sample(f"{name}_total", labels, series.value)
    elif series.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
        for bound, seen in zip(series.bounds, series.buckets, strict=True):
            family.add_sample(f"{name}_bucket", {**labels, "le": str(float(bound))}, seen)
        family.add_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, series.count)
        family.add_sample(f"{name}_count", labels, series.count)
        family.add_sample(f"{name}_sum", labels, series.value)
    else:
        family.add_sample(name, labels, series.value)


def kind(series: Series) -> str:
    if series.kind == BUFFERED_METRIC_KIND_COUNTER:
        return "counter"
    return "histogram" if series.kind == BUFFERED_METRIC_KIND_HISTOGRAM else "gauge"


def exported_name(name: str, unit: str | None, metric_kind: int) -> str:
    """Prometheus style: a duration's name ends in `_seconds`, a counter's base has no
    `_total` (added to its sample)."""
    name = name.removesuffix("_total") if metric_kind == BUFFERED_METRIC_KIND_COUNTER else name
    if unit in SECONDS_UNITS and not name.endswith("_seconds"):
        name = f"{name}_seconds"
    return name


def labels_of(attributes: Mapping[str, Any]) -> Labels:
    return tuple(sorted((str(k), str(v)) for k, v in attributes.items()))
