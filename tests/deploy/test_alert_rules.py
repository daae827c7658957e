"""The shipped alert rules are valid for Prometheus and fire when they should (promtool)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.deploy.shipped import DASHBOARD, RULES, dashboard_expressions, promtool

RULE_TESTS = Path(__file__).with_name("alerts_test.yml")
# What Grafana puts in for the dashboard's variables before Prometheus sees a query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": "mailroom"}
DOCUMENTED_RULES = "/etc/prometheus/rules/mailroom-alerts.yml"


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_alert_rules_pass_promtool_check() -> None:
    checked = run_promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_fire_when_they_should_and_not_before() -> None:
    tested = run_promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    rules = tmp_path / "dashboard_rules.json"  # JSON is YAML: one recording rule a query
    queries = [with_variables(e) for e in dashboard_expressions(json.loads(DASHBOARD.read_text()))]
    records = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}))
    checked = run_promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def with_variables(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a dashboard variable the test does not know: {expr}"
    return expr


def test_the_documented_prometheus_config_loads_the_shipped_rules(tmp_path: Path) -> None:
    documented = (ROOT / "docs" / "operations.md").read_text()
    config = re.search(r"```yaml\n(# prometheus\.yml\n.*?)```", documented, re.DOTALL)
    assert config is not None, "docs/operations.md shows a prometheus.yml"
    text = config.group(1).replace(DOCUMENTED_RULES, str(RULES))
    assert str(RULES) in text
    (tmp_path / "prometheus.yml").write_text(text)
    checked = run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboards_time_since_panels_skip_a_source_with_no_mail_or_fetch_yet(
    tmp_path: Path,
) -> None:
    """A timestamp gauge at 0 (nothing since the process started) is no time since 1970."""
    queries = [
        with_variables(e)
        for e in dashboard_expressions(json.loads(DASHBOARD.read_text()))
        if "_timestamp_seconds" in e
    ]
    assert queries
    for at, query in enumerate(queries):
        metric = re.search(r"mailroom_\w+_timestamp_seconds", query)
        assert metric is not None
        tests = {
            "rule_files": [],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": f'{metric.group()}{{job="mailroom",source="new"}}',
                            "values": "0x5",
                        },
                        {
                            "series": f'{metric.group()}{{job="mailroom",source="old"}}',
                            "values": "60x5",
                        },
                    ],
                    "promql_expr_test": [
                        {
                            "expr": query,
                            "eval_time": "3m",
                            "exp_samples": [{"labels": '{source="old"}', "value": 120}],
                        }
                    ],
                }
            ],
        }
        path = tmp_path / f"dashboard_test_{at}.json"
        path.write_text(json.dumps(tests))
        tested = run_promtool("test", "rules", str(path))
        assert tested.returncode == 0, tested.stdout + tested.stderr
