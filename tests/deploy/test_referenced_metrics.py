"""The shipped rules and dashboard name only metrics mailroom or the Temporal SDK export
(use_cases/metric_catalogue.py is the contract), and the dashboard shows every one."""

from __future__ import annotations

import json

from tests.deploy.shipped import (
    CATALOGUE_NAMES,
    CLIENT_NAMES,
    DASHBOARD,
    PROMETHEUS_METRICS,
    RULES,
    SDK_NAMES,
    dashboard_expressions,
    metric_names,
    referenced_names,
    rule_count,
    rule_expressions,
)
from use_cases.metric_catalogue import CATALOGUE, exported_names


def test_metric_names_are_read_from_promql_without_functions_keywords_or_labels() -> None:
    expr = """
      histogram_quantile(0.95, sum by (agent, le) (rate(a_seconds_bucket{job="$job",
        agent!~"x|y"}[$__rate_interval])))
      / on (agent) group_left (flow) b_total offset 1h
      and ignoring (code) c > bool 1e3 unless without_this:recorded
      or sum(d) without (stage) > time() - e @ start()
    """
    assert metric_names(expr) == {
        "a_seconds_bucket",
        "b_total",
        "c",
        "without_this:recorded",
        "d",
        "e",
    }
    assert metric_names('absent(up{job="mailroom", le="0.5"})') == {"up"}
    assert metric_names('count({__name__=~"x.*"})') == set()


def test_every_rule_has_its_expression_read() -> None:
    text = RULES.read_text()
    expressions = rule_expressions(text)
    assert len(expressions) == rule_count(text) > 0
    assert all(metric_names(expr) for expr in expressions)


def test_every_dashboard_panel_queries_something() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for row in dashboard["panels"] for p in [row, *row.get("panels", [])]]
    graphs = [p for p in panels if p["type"] != "row"]
    assert graphs and all(p["targets"] for p in graphs)
    assert len(dashboard_expressions(dashboard)) == sum(len(p["targets"]) for p in graphs)


def test_rules_and_dashboard_reference_only_exported_metrics() -> None:
    known = CATALOGUE_NAMES | SDK_NAMES | CLIENT_NAMES | PROMETHEUS_METRICS
    unknown = referenced_names() - known
    assert not unknown, f"not in use_cases/metric_catalogue.py nor the SDK's list: {unknown}"


def test_the_dashboard_shows_every_catalogue_metric() -> None:
    shown = {
        name
        for expr in dashboard_expressions(json.loads(DASHBOARD.read_text()))
        for name in metric_names(expr)
    }
    missing = [spec.name for spec in CATALOGUE if not shown & set(exported_names(spec))]
    assert not missing, f"no panel shows {missing}"
