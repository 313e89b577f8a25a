#!/usr/bin/env python3
"""Checks the monitoring files shipped in contrib/ (run by `make test`).

- the Prometheus alerting rules pass `promtool check rules` and their unit
  tests (`promtool test rules`);
- the Grafana dashboard is importable as is: valid JSON, its one data source
  declared as an import input, unique panel ids, every query valid PromQL
  (each is checked by promtool as a recording rule, with Grafana's variables
  replaced by values).
The metric names they use are checked against a running shim's /metrics by
the HTTP suite (monitoring_files_use_exported_metrics).
Ends with `monitoring: N passed, M failed`.
"""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "test" / "lib"))
from suite import Failure, check, parse_argv, registry, run_suite  # noqa: E402

RULES = REPO / "contrib" / "prometheus" / "nilus-manager-rules.yml"
RULE_TESTS = REPO / "contrib" / "prometheus" / "nilus-manager-rules.test.yml"
DASHBOARD = REPO / "contrib" / "grafana" / "nilus-manager.json"
TESTS, test = registry()
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".*", "$instance": ".*"}


def promtool(*args):
    done = subprocess.run(["promtool", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}")


@test
def rules_are_valid():
    promtool("check", "rules", str(RULES))


@test
def rules_fire_as_tested():
    promtool("test", "rules", str(RULE_TESTS))


def dashboard_queries(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


@test
def dashboard_is_importable():
    dashboard = json.loads(DASHBOARD.read_text())
    inputs = {i["name"] for i in dashboard["__inputs"] if i["type"] == "datasource"}
    check(inputs == {"DS_PROMETHEUS"}, f"data source inputs: {inputs}")
    ids = [p["id"] for p in dashboard["panels"]]
    check(len(ids) == len(set(ids)), f"panel ids repeat: {ids}")
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            check(panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"])
            check(panel.get("targets"), f"panel without a query: {panel['title']}")
    used = set(re.findall(r"\$\w+", json.dumps([e for _, e in dashboard_queries(dashboard)])))
    declared = {"$" + v["name"] for v in dashboard["templating"]["list"]} | set(GRAFANA_VARIABLES)
    check(used <= declared, f"undeclared variables: {used - declared}")


@test
def dashboard_queries_are_promql():
    dashboard = json.loads(DASHBOARD.read_text())
    rules = []
    for n, (title, expr) in enumerate(dashboard_queries(dashboard)):
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)   # YAML is a superset of JSON
        f.flush()
        promtool("check", "rules", f.name)


def main(argv):
    verbose, _, _ = parse_argv(argv)
    return run_suite(TESTS, label="monitoring", verbose=verbose)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
