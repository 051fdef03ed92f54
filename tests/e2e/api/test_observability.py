"""The alert rules and the dashboard are checked, not just kept: `promtool check rules` on
deploy/alerts.yml (and on the dashboard's PromQL, wrapped as recording rules), and every
metric that a rule or a panel names is one the running services export (scraped from every
process's /metrics, on the API tests' shared system)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.processes import SERVICES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
PROMTOOL = Path(sys.executable).parent / "promtool"  # scripts/tools.sh puts it there
ALERTS = ROOT / "deploy" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "dashboards").glob("*.json"))
# series Prometheus makes itself, not the services
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_expressions() -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in DASHBOARDS:
        walk(json.loads(path.read_text()))
    return found


def metric_names(expr: str) -> set[str]:
    """The series an expression selects: identifiers left once strings, label matchers,
    ranges, grouping lists, function calls and keywords are taken out."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[m.end():].lstrip()
        if rest.startswith("(") or m.group().lower() in KEYWORDS:
            continue  # a function, or a keyword
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # the unit of a number such as 1e3
        names.add(m.group())
    return names


def exported(exposition: str) -> set[str]:
    """Every series name the text exposition offers, samples present or not yet."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            base = name.removesuffix("_total")
            names |= {name}
            if kind == "counter":
                names |= {base + "_total", base + "_created"}
            elif kind in ("histogram", "summary"):
                names |= {name + s for s in ("_bucket", "_sum", "_count", "_created")}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group())
    return names


def test_expressions_are_found():
    assert len(rule_expressions()) >= 10 and len(dashboard_expressions()) >= 10
    assert metric_names('sum by (le, q) (rate(a_bucket{s=~"5.."}[5m])) / b > 1e3') == {
        "a_bucket", "b"}


def test_promtool_checks_the_rules_and_the_dashboard_queries(tmp_path):
    assert PROMTOOL.exists(), "scripts/tools.sh installs promtool"
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(ALERTS)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    print("\n" + done.stdout.strip())
    panels = tmp_path / "dashboard-rules.yml"
    panels.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{n}", "expr": expr}
        for n, expr in enumerate(dashboard_expressions())]}]}))
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(panels)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout.strip())


def test_promtool_refuses_a_broken_expression(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"alert": "Broken", "expr": "sum by (queue (rate(ehcp_queue_depth[5m]))"}]}]}))
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(broken)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def test_every_metric_named_is_exported(system):
    offered = set().union(*(exported(system.metrics(s)) for s in SERVICES))
    named = {name: where for where, exprs in (("alert rule", rule_expressions()),
                                              ("dashboard", dashboard_expressions()))
             for expr in exprs for name in metric_names(expr)}
    missing = {n: w for n, w in named.items() if n not in offered | PROMETHEUS_OWN}
    assert not missing, f"named in deploy/ but exported by no service: {missing}"
    print(f"\n{len(named)} metrics named by rules and panels, all among the "
          f"{len(offered)} series names the four services export")
