"""The Grafana dashboard and the Prometheus alerts query only metrics the service exports."""

import pytest

from tests.support.deploy import (
    CONTRACT_METRICS,
    ROOT,
    exported_metrics,
    metric_names,
    read_dashboard,
    read_yaml,
    series,
)


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in read_dashboard()["panels"] for t in p["targets"]]


def alert_exprs() -> list[str]:
    groups = read_yaml(ROOT / "deploy/prometheus/alerts.yml")["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def panel_exprs(kind: str) -> list[str]:
    return [
        t["expr"] for p in read_dashboard()["panels"] if p["type"] == kind for t in p["targets"]
    ]


def test_dashboard_is_a_complete_grafana_dashboard() -> None:
    dashboard = read_dashboard()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["title"]
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["targets"], panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    used = {name for expr in dashboard_exprs() for name in variables if f"${name}" in expr}
    assert used == variables


@pytest.mark.parametrize(
    ("what", "needle", "panel_type"),
    [
        ("throughput", "rate(gennet_requests_total", "timeseries"),
        (
            "p50",
            "histogram_quantile(0.5, sum by (le) (rate(gennet_request_duration_seconds_bucket",
            "timeseries",
        ),
        (
            "p95",
            "histogram_quantile(0.95, sum by (le) (rate(gennet_request_duration_seconds_bucket",
            "timeseries",
        ),
        (
            "p99",
            "histogram_quantile(0.99, sum by (le) (rate(gennet_request_duration_seconds_bucket",
            "timeseries",
        ),
        ("batch size", "gennet_batch_size_sum", "timeseries"),
        ("queue depth", "gennet_queue_depth", "timeseries"),
        ("rejections by reason", "sum by (reason) (rate(gennet_rejections_total", "timeseries"),
        ("predictions by label", "sum by (label) (rate(gennet_predictions_total", "timeseries"),
        ("score histogram", "sum by (le) (increase(gennet_prediction_score_bucket", "heatmap"),
    ],
)
def test_dashboard_has_the_panel(what: str, needle: str, panel_type: str) -> None:
    assert any(needle in expr for expr in panel_exprs(panel_type)), what


def balanced(expr: str) -> bool:
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in expr:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_name_only_metrics_the_service_exports(source: str) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else alert_exprs()
    named = set().union(*(metric_names(expr) for expr in exprs))
    assert named, "no gennet_ metric queried"
    assert named <= series(CONTRACT_METRICS), named - series(CONTRACT_METRICS)
    exported = exported_metrics()
    assert named <= series(exported), named - series(exported)
    assert [expr for expr in exprs if not balanced(expr)] == []


def test_the_service_exports_every_contract_metric() -> None:
    exported = exported_metrics()
    assert {name: exported.get(name) for name in CONTRACT_METRICS} == CONTRACT_METRICS
