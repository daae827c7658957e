"""The ingest benchmark end to end with tiny numbers: it runs, and its last line is the JSON
that `make bench` promises. A smoke test of the harness, not a measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INGEST = (sys.executable, "-m", "bench.ingest", "--log-level", "warning")


def last_json_line(command: list[str], *, timeout: float = 120) -> Any:
    """Run a benchmark from the repository's root; it succeeds, and its last line is JSON."""
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


EXPECTED_KEYS = {
    "rate",
    "baseline_rate",
    "ratio",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p99_ms_at_half_rate",
    "front_end_rate",
    "front_end_ratio",
    "mails",
    "concurrency",
    "events_per_mail",
    "workflow_tasks_per_mail",
    "actions_per_mail",
    "baseline_events_per_mail",
    "baseline_workflow_tasks_per_mail",
    "baseline_actions_per_mail",
    "events_vs_baseline",
    "workflow_tasks_vs_baseline",
    "actions_vs_baseline",
    "cpu_ms_per_mail",
    "bare_adapter_rate",
    "adapter_cpu_ms_per_mail",
    "front_end_cpu_vs_bare",
    "worker_cpu_ms_per_mail",
    "worker_cpu_vs_bare_floor",
}


@pytest.mark.slow
def test_ingest_benchmark_prints_its_figures_as_json_last() -> None:
    figures = last_json_line([*INGEST, "--mails", "40", "--threads", "8", "--concurrency", "4"])
    missing = EXPECTED_KEYS - figures.keys()
    assert not missing, f"missing keys {missing} in {figures}"
    assert figures["mails"] == 40 and figures["concurrency"] == 4
    assert figures["failed"] == 0 and figures["not_applied"] == 0
    assert figures["rate"] > 0 and figures["baseline_rate"] > 0
    assert figures["front_end_rate"] > 0, "mail reached the do-nothing threads"
    # every mail is at least its signal: one event and one action, in both
    assert figures["events_per_mail"] >= 1 and figures["baseline_events_per_mail"] >= 1
    assert figures["actions_per_mail"] >= 1 and figures["baseline_actions_per_mail"] >= 1
    # the bare adapter's mail reached its threads (not_applied counts its pass too) and it
    # was measured; the answering baseline answered by local activities, as mailroom's
    # worker does, and the worker's floor was derived from both
    assert figures["bare_adapter_rate"] > 0 and figures["adapter_cpu_ms_per_mail"]["bare"] > 0
    assert figures["front_end_cpu_vs_bare"] > 0
    assert figures["answering_baseline_work_per_mail"]["local_activities"] > 0
    assert figures["work_per_mail"]["local_activities"] > 0
    worker = figures["worker_cpu_ms_per_mail"]
    assert worker["bare_answering"] > 0
    assert worker["bare_at_mailroom_local_activities"] >= worker["bare_appending"] > 0
    assert figures["worker_cpu_vs_bare_floor"] > 0
    # the same baselines and the bare adapter again, paced at mailroom's rates
    assert figures["answering_baseline_work_per_mail_at_mailroom_rate"]["local_activities"] > 0
    assert worker["bare_appending_at_mailroom_rate"] > 0
    assert worker["bare_answering_at_mailroom_rate"] > 0
    assert figures["worker_cpu_vs_floor_at_mailroom_rate"] > 0
    assert figures["adapter_cpu_ms_per_mail"]["bare_at_front_end_rate"] > 0
    assert figures["front_end_cpu_vs_bare_at_its_rate"] > 0


@pytest.mark.slow
def test_ingest_paced_prints_each_processs_cpu_a_mail() -> None:
    figures = last_json_line(
        [*INGEST, "--paced", "20", "--mails", "30", "--threads", "4", "--concurrency", "2"]
    )
    assert figures["mails"] == 30 and figures["failed"] == 0 and figures["not_applied"] == 0
    assert 0 < figures["rate"] <= 25  # paced, not flat out
    cpu = figures["cpu_ms_per_mail"]
    assert cpu["smtp"] > 0 and cpu["worker"] > 0 and cpu["server"] > 0


@pytest.mark.slow
def test_ingest_scaling_prints_a_row_per_process_count_with_the_childrens_cpu() -> None:
    rows = last_json_line(
        [*INGEST, "--scaling", "1,2", "--mails", "20", "--threads", "4", "--concurrency", "4"],
        timeout=180,
    )["scaling"]
    assert [row["processes"] for row in rows] == [1, 2]
    for row in rows:
        assert row["not_applied"] == 0 and row["rate"] > 0 and row["front_end_rate"] > 0
        # with 2 processes the parent only supervises: the mail's CPU is its children's
        assert row["cpu_ms_per_mail"]["smtp"] > 0 and row["cpu_ms_per_mail"]["worker"] > 0
    assert rows[0]["ratios"]["rate"] == 1.0


@pytest.mark.slow
def test_floors_benchmark_prints_each_part_alone() -> None:
    figures = last_json_line(
        [sys.executable, "-m", "bench.floors", "--mails", "40", "--concurrency", "2"]
    )["cpu_ms_per_mail"]
    assert set(figures) == {"smtp", "signal_with_start", "durable_file"}
    assert all(spent > 0 for spent in figures.values()), figures
