"""The alert rules and dashboard shipped in deploy/, read for the tests: their PromQL
expressions and the metric names those reference (issue 21: no rule or panel may point at a
metric nobody exports)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from use_cases.metric_catalogue import CATALOGUE, MetricSpec, exported_names

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "mailroom.json"

# The Temporal SDK's own metrics the rules and dashboard use (adapters/outbound/
# temporal_sdk_metrics.py names them: durations end in `_seconds`, counters' samples in
# `_total`); each is in a scrape of `mailroom up` once one mail went through a thread.
SDK_METRICS = (
    MetricSpec("temporal_num_pollers", "gauge", ("task_queue", "poller_type"), ""),
    MetricSpec("temporal_worker_task_slots_available", "gauge", ("worker_type",), ""),
    MetricSpec("temporal_worker_task_slots_used", "gauge", ("worker_type",), ""),
    MetricSpec("temporal_sticky_cache_size", "gauge", ("task_queue",), ""),
    MetricSpec(
        "temporal_workflow_task_schedule_to_start_latency_seconds", "histogram", ("task_queue",), ""
    ),
    MetricSpec(
        "temporal_workflow_task_execution_latency_seconds", "histogram", ("task_queue",), ""
    ),
    MetricSpec(
        "temporal_local_activity_execution_latency_seconds", "histogram", ("activity_type",), ""
    ),
)
# Made by Prometheus itself for each target, never exported by a process.
PROMETHEUS_METRICS = frozenset({"up"})
# Exported by prometheus-client's process collector in every mailroom process (Linux): the
# rules time a source with no mail since its process started from it.
CLIENT_NAMES = frozenset({"process_start_time_seconds"})

CATALOGUE_NAMES = frozenset(name for spec in CATALOGUE for name in exported_names(spec))
SDK_NAMES = frozenset(name for spec in SDK_METRICS for name in exported_names(spec))

_NOT_METRICS = frozenset(
    "by without on ignoring group_left group_right and or unless bool offset inf nan".split()
)
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)\s*(\(?)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions
    (followed by `(`), keywords, label names (in braces or a grouping) or durations."""
    bare = _STRING.sub('""', expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)  # matchers; ranges and subqueries
    bare = _GROUPING.sub(" ", bare)
    return {
        name
        for name, call in _IDENTIFIER.findall(bare)
        if not call and name.lower() not in _NOT_METRICS
    }


def rule_expressions(text: str) -> list[str]:
    """Each rule's `expr:` in a rules file, a plain one-line scalar or a `|` block (the
    forms deploy/prometheus/alerts.yml uses; a test checks one per rule was found)."""
    lines = text.splitlines()
    found = []
    for at, line in enumerate(lines):
        match = re.match(r"^(\s*)(?:- )?expr:\s*(.*)$", line)
        if match is None:
            continue
        value = match.group(2).strip()
        if value in {"|", "|-", ">", ">-"}:
            value = "\n".join(_block(lines[at + 1 :], len(match.group(1))))
        found.append(value)
    return found


def _block(lines: list[str], indent: int) -> Iterator[str]:
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            return
        yield line


def rule_count(text: str) -> int:
    return len(re.findall(r"^\s*- (?:alert|record):", text, re.MULTILINE))


def dashboard_expressions(dashboard: object) -> list[str]:
    """Every panel target's `expr`, rows' nested panels included."""
    if isinstance(dashboard, dict):
        own = [dashboard["expr"]] if isinstance(dashboard.get("expr"), str) else []
        return own + [e for value in dashboard.values() for e in dashboard_expressions(value)]
    if isinstance(dashboard, list):
        return [e for value in dashboard for e in dashboard_expressions(value)]
    return []


def shipped_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return rule_expressions(RULES.read_text()) + dashboard_expressions(dashboard)


def referenced_names() -> set[str]:
    return {name for expr in shipped_expressions() for name in metric_names(expr)}


def promtool() -> str:
    """promtool's path; outside CI a machine without it skips (CI=1 by .ci/run: fails)."""
    found = shutil.which("promtool")
    if found is None:
        why = "promtool is not installed (Debian/Ubuntu package `prometheus`)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: .ci/run installs it")
        pytest.skip(why)
    return found
