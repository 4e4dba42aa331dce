"""deploy/grafana/sora-bot.json against the code: every series a panel queries (and every label it groups by)
is one a fresh `Metrics()` registry exports, every metric the bot exports has a panel, and the dashboard
imports anywhere (its datasource is the `DS_PROMETHEUS` input)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from bot.services.metrics import Metrics

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "sora-bot.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# The series each metric type exports, by suffix (prometheus_client's text format).
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
}


def load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def exported() -> dict[str, tuple[str, frozenset[str]]]:
    """Each series name a fresh registry's scrape announces -> (its metric's name, its label names)."""
    metrics = Metrics()
    labels = {
        instrument._name: frozenset(instrument._labelnames)
        for instrument in vars(metrics).values()
        if isinstance(instrument, MetricWrapperBase)
    }
    series = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        if family.name in labels:  # not the `_created` timestamps
            for suffix in SUFFIXES[family.type]:
                series[family.name + suffix] = (family.name, labels[family.name])
    return series


def parse(expr: str) -> tuple[set[str], set[str]]:
    """The metric names a PromQL expression selects, and the label names it groups or matches by."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    labels = {name.strip() for group in re.findall(GROUPING, expr) for name in group.split(",")}
    expr = re.sub(GROUPING, " ", expr)
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\{[^}]*\}|\$\w+", " ", expr)  # matchers, ranges, Grafana variables
    names = set()
    for word in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", expr):
        is_function = expr[word.end() :].lstrip().startswith("(")
        if not is_function and word.group() not in KEYWORDS:
            names.add(word.group())
    return names, labels - {""}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query (rows nest theirs when collapsed)."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found += panel.get("panels", []) if panel["type"] == "row" else [panel]
    return found


def problems(dashboard: dict[str, Any]) -> list[str]:
    """What in the dashboard doesn't match the bot's metrics, one line each."""
    series = exported()
    found = []
    for panel in panels(dashboard):
        title = panel["title"]
        if not panel.get("targets"):
            found.append(f"{title!r}: no query")
        for target in panel.get("targets", []):
            names, labels = parse(target["expr"])
            if not names:
                found.append(f"{title!r}: {target['expr']!r} selects no metric")
            unknown = sorted(names - series.keys())
            if unknown:
                found.append(f"{title!r}: {unknown} not exported by Metrics()")
            has = set().union(*(series[n][1] for n in names & series.keys()))
            has |= {"le"} if any(n.endswith("_bucket") for n in names) else set()
            if labels - has:
                found.append(f"{title!r}: labels {sorted(labels - has)} not on {sorted(names)}")
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            if legend - labels:
                found.append(f"{title!r}: legend {sorted(legend - labels)} not grouped by")
    return found


def test_every_query_uses_metrics_and_labels_the_bot_exports() -> None:
    assert problems(load()) == []


def test_a_misspelt_metric_or_label_is_caught() -> None:
    dashboard = load()
    [target] = [
        t
        for p in panels(dashboard)
        for t in p["targets"]
        if "sora_jobs_finished_total" in t["expr"] and "state" in t["expr"]
    ]
    for right, wrong, found in [
        ("sora_jobs_finished_total", "sora_job_finished_total", "['sora_job_finished_total'] not exported"),
        ("by (state)", "by (stat)", "labels ['stat'] not on"),
    ]:
        broken = copy.deepcopy(dashboard)
        [twin] = [t for p in panels(broken) for t in p["targets"] if t == target]
        twin["expr"] = target["expr"].replace(right, wrong)
        assert any(found in line for line in problems(broken)), problems(broken)


def test_the_parser_finds_names_and_labels_only() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, method) (rate(sora_prodia_request_seconds_bucket{method="GET",'
        ' x=~"a|b"}[$__rate_interval]))) / on (method) group_left sum(sora_jobs_queued offset 5m) > bool 1e3'
    )
    assert parse(expr) == ({"sora_prodia_request_seconds_bucket", "sora_jobs_queued"}, {"le", "method", "x"})


def test_every_metric_the_bot_exports_has_a_panel() -> None:
    used = {name for p in panels(load()) for t in p["targets"] for name in parse(t["expr"])[0]}
    metrics = {metric for metric, _ in exported().values()}
    assert {metric for name, (metric, _) in exported().items() if name in used} == metrics


def test_it_imports_anywhere_with_a_prometheus_input() -> None:
    dashboard = load()
    assert [(i["name"], i["type"], i["pluginId"]) for i in dashboard["__inputs"]] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    ids = [p["id"] for p in dashboard["panels"]] + [p["id"] for p in panels(dashboard)]
    assert len(set(ids)) == len(dashboard["panels"]) + sum(
        len(p.get("panels", [])) for p in dashboard["panels"]
    )
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
