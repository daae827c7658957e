"""Figures: percentiles, latencies from load records and applied times, the JSON last line."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A load record: [handed over, acknowledged, attempts] (epoch seconds), see bench.load.
Records = Mapping[str, Sequence[float]]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation): the value p% of samples are at or below."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    count: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(
            p50_ms=round(percentile(ms, 50), 1),
            p95_ms=round(percentile(ms, 95), 1),
            p99_ms=round(percentile(ms, 99), 1),
            max_ms=round(max(ms), 1) if ms else math.nan,
            count=len(ms),
        )

    def line(self) -> str:
        return (
            f"p50 {self.p50_ms:.1f} ms  p95 {self.p95_ms:.1f} ms  p99 {self.p99_ms:.1f} ms  "
            f"max {self.max_ms:.1f} ms  (n={self.count})"
        )


def end_to_end(records: Records, applied: Mapping[str, float]) -> list[float]:
    """Acknowledgement (SMTP 250) → applied in the workflow, in seconds, per message."""
    return [applied[mid] - rec[1] for mid, rec in records.items() if mid in applied]


def handoff(records: Records) -> list[float]:
    """Handed over → acknowledged: what the sender waits for (the SMTP transaction)."""
    return [rec[1] - rec[0] for rec in records.values()]


def accepted_rate(records: Records) -> float:
    """Accepted mails per second, from the first hand-over to the last acknowledgement."""
    if not records:
        return 0.0
    first = min(rec[0] for rec in records.values())
    last = max(rec[1] for rec in records.values())
    return len(records) / max(last - first, 1e-9)


def applied_rate(records: Records, applied: Mapping[str, float]) -> float:
    """Applied mails per second, from the first hand-over to the last message applied."""
    done = [applied[mid] for mid in records if mid in applied]
    if not done:
        return 0.0
    first = min(rec[0] for rec in records.values())
    return len(done) / max(max(done) - first, 1e-9)


def print_json(figures: Mapping[str, Any]) -> None:
    print(json.dumps(figures, sort_keys=False), flush=True)
