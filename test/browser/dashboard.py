#!/usr/bin/env python3
"""The dashboard (/nilus-manager/ui) in headless Chromium against the real
shim and the real extension: with a token it renders the resources, the
charts of the chosen resource, the latest runs with their errors and the
CDC offsets, all as the API answers them, with no request leaving
127.0.0.1; the token lives in sessionStorage only; a bad token or another
tenant is a clear message.

Run inside `pg_virtualenv -t` after `make install` (the extension) and
`make` (the shim and shim/assets):
    python3 test/browser/dashboard.py [-v] [substring ...]
It prints one line per failing test and ends with `dashboard: N passed, M failed`.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from browser import Shim, outside, run_browser_suite  # noqa: E402
from suite import check, registry, wait_until  # noqa: E402

TMP = Path(tempfile.mkdtemp(prefix="nilus-dashboard-"))
DB = "nilus_dashboard"
ROLE, PASSWORD = "nilus_dashboard_api", uuid.uuid4().hex
RESOURCES = {"workflow:v1:orders-sync:public": "orders-sync", "workflow:v1:users-sync:public": "users-sync",
             "workflow:v1:events-load:public": "events-load"}
CHOSEN = "workflow:v1:orders-sync:public"
TOKENS = {}


def psql(sql, db=DB):
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          capture_output=True, text=True)
    check(done.returncode == 0, f"psql: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def lit(text):
    return "'" + text.replace("'", "''") + "'"


def load_fixtures():
    """Runs over 7 days (failures with errors) for acme and globex, CDC offsets for acme."""
    psql(f"DROP DATABASE IF EXISTS {DB}", db="postgres")
    psql(f"CREATE DATABASE {DB}", db="postgres")
    psql("CREATE EXTENSION nilus")
    psql(f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit(ROLE)}) THEN "
         f"CREATE ROLE {ROLE} LOGIN; END IF; END $$")
    psql(f"ALTER ROLE {ROLE} LOGIN PASSWORD {lit(PASSWORD)}")
    psql(f"GRANT nilus_api TO {ROLE}")
    now = datetime.now(timezone.utc)
    statements = []
    for i in range(120):
        resource = list(RESOURCES)[i % 3]
        started = now - timedelta(hours=i * 1.3 + 0.5)
        failed = i % 5 == 0
        run = {"run_id": str(uuid.UUID(int=i + 1)), "resource_id": resource,
               "pipeline_name": RESOURCES[resource], "started_at": started.isoformat(),
               "finished_at": (started + timedelta(seconds=30 + i)).isoformat(), "is_success": not failed,
               "run_as_user": "alice"}
        if failed:
            run["error"] = f"column \"amount{i}\" does not exist <b>not html</b>"
        for tenant in ("acme", "globex") if i < 10 else ("acme",):
            statements.append(f"SELECT nilus.store_run({lit(tenant)}, {lit(json.dumps(run))}::jsonb)")
    for batch in range(4):
        for name in ("pg-orders-cdc", "mysql-users-cdc"):
            body = {"resource_id": f"service:v1:{name}:public", "connector_name": f"{name}-connector",
                    "offsets": [{"offset_key": json.dumps({"server": name, "partition": k}),
                                 "offset_val": json.dumps({"lsn": 1000 * batch + k})} for k in range(2)]}
            statements.append(f"SELECT nilus.store_offsets('acme', {lit(name)}, {lit(json.dumps(body))}::jsonb)")
    psql("; ".join(statements))
    for label, tenant, rights in (("dash-read", "'acme'", "ARRAY['read']"),):
        TOKENS[label] = psql(f"SELECT nilus.create_token({tenant}, {rights}, {lit(label)})")


class DashboardShim(Shim):
    def __init__(self):
        host = os.environ.get("PGHOST", "localhost")
        super().__init__(TMP, f"host={host} port={os.environ.get('PGPORT', '5432')} dbname={DB} "
                              f"user={ROLE} password={PASSWORD}", "/nilus-manager/ui", NILUS_THREADS="2")

    def api(self, path):
        request = urllib.request.Request(self.base + "/nilus-manager/api/v1" + path,
                                         headers={"Authorization": "Bearer " + TOKENS["dash-read"]})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())


def start_shim():
    load_fixtures()
    return DashboardShim()


def open_dashboard(shim, browser, token, tenant, period="7d", resource=None):
    """A fresh load of the page with these settings in sessionStorage; waits until it loaded or refused."""
    browser.navigate(shim.base + "/nilus-manager/ui", "document.body && document.body.dataset.loaded",
                     "the dashboard page")
    browser.evaluate(f"sessionStorage.setItem('nilus-token', {json.dumps(token)});"
                     f"sessionStorage.setItem('nilus-tenant', {json.dumps(tenant)});"
                     f"sessionStorage.setItem('nilus-period', {json.dumps(period)})")
    browser.navigate("about:blank", "true", "a blank page")
    url = shim.base + "/nilus-manager/ui" + (f"#resource={urllib.parse.quote(resource, safe='')}" if resource else "")
    state = browser.navigate(url, "['true', 'error'].includes(document.body && document.body.dataset.loaded)"
                                  " && document.body.dataset.loaded", "the dashboard loaded or refused")
    browser.settle()
    return state


def texts(browser, selector):
    return browser.evaluate(f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => e.textContent)")


TESTS, test = registry()


@test
def renders_resources_charts_runs_and_offsets(shim, browser):
    state = open_dashboard(shim, browser, TOKENS["dash-read"], "acme", "7d", CHOSEN)
    message = browser.evaluate("document.getElementById('message').textContent")
    check(state == "true", f"the dashboard did not load: {message}")
    stats = shim.api("/tenants/acme/stats?period=7d&limit=1000")
    rows = browser.evaluate("Array.from(document.querySelectorAll('#resources tbody tr'))"
                            ".map(r => r.dataset.resource)")
    check(rows == [r["resource_id"] for r in stats["resources"]],
          f"resource rows {rows} != the API's {[r['resource_id'] for r in stats['resources']]}")
    rates = texts(browser, "#resources tbody tr td:nth-child(5)")
    check(rates == [f"{r['success_rate']} %" for r in stats["resources"]], f"success rates {rates}")
    series = shim.api(f"/tenants/acme/pipelines/{urllib.parse.quote(CHOSEN, safe='')}/series?period=7d")
    bars = browser.evaluate("document.querySelectorAll('#runs-chart rect.ok-bar, #runs-chart rect.failed-bar').length")
    want_bars = sum((b["successful_runs"] > 0) + (b["failed_runs"] > 0) for b in series["series"])
    check(bars == want_bars and bars > 0, f"runs chart: {bars} bars, the series has {want_bars} non-zero values")
    failed_bars = browser.evaluate("document.querySelectorAll('#runs-chart rect.failed-bar').length")
    check(failed_bars == sum(b["failed_runs"] > 0 for b in series["series"]) and failed_bars > 0,
          f"runs chart: {failed_bars} failure bars")
    lines = browser.evaluate("document.querySelectorAll('#duration-chart polyline').length")
    check(lines == 2, f"duration chart: {lines} lines, expected average and maximum")
    check(browser.evaluate("document.getElementById('resource-name').textContent") == CHOSEN, "chosen resource named")
    runs = shim.api(f"/tenants/acme/pipelines/{urllib.parse.quote(CHOSEN, safe='')}/runs?limit=20")["runs"]
    errors = texts(browser, "#runs tbody td:nth-child(7)")
    check(errors == [r["error"] or "" for r in runs], f"latest runs' errors {errors[:3]}")
    check(any("<b>not html</b>" in e for e in errors), "an error's text is shown as text, not HTML")
    check(not browser.evaluate("document.querySelector('#runs b')"), "an error's markup became HTML")
    offsets = texts(browser, "#cdc tbody td:nth-child(5)")
    check(sorted(offsets) == sorted(json.dumps({"lsn": 3000 + k}) for k in range(2) for _ in range(2)),
          f"CDC: the latest offset of each pipeline's key, got {offsets}")
    links = browser.evaluate("Array.from(document.querySelectorAll('#resources a, #runs a, #cdc a'))"
                             ".map(a => a.getAttribute('href'))")
    check(f"#resource={urllib.parse.quote(CHOSEN, safe='')}" in links, f"links to the resource: {links[:5]}")
    check(not browser.exceptions(), f"JavaScript exceptions: {browser.exceptions()[:2]}")
    requests = browser.requests()
    away = [u for u in requests if outside(u)]
    check(not away, f"requests outside 127.0.0.1: {away}")
    paths = {urllib.parse.urlparse(u).path for u in requests}
    for must in ("/nilus-manager/ui", "/nilus-manager/docs/dashboard.js", "/nilus-manager/docs/dashboard.css",
                 "/nilus-manager/api/v1/tenants/acme/stats"):
        check(must in paths, f"the request log lacks {must}: {sorted(paths)}")


@test
def a_link_chooses_another_resource(shim, browser):
    other = "workflow:v1:events-load:public"
    browser.events.clear()
    browser.evaluate(f"document.querySelector('#resources tr[data-resource=\"{other}\"] a').click()")
    wait_until("the chart of the clicked resource",
               lambda: browser.evaluate("document.getElementById('resource-name').textContent") == other, 20)
    wait_until("its runs", lambda: set(texts(browser, "#runs tbody td:nth-child(3)")) == {other}, 20)


@test
def the_token_is_kept_in_session_storage_only(shim, browser):
    open_dashboard(shim, browser, TOKENS["dash-read"], "acme")
    check(browser.evaluate("sessionStorage.getItem('nilus-token')") == TOKENS["dash-read"], "token in sessionStorage")
    check(browser.evaluate("localStorage.length") == 0, "localStorage holds something")
    check(browser.evaluate("document.cookie") == "", "a cookie was set")
    check(TOKENS["dash-read"] not in browser.evaluate("location.href"), "the token is in the URL")


@test
def a_bad_token_is_a_clear_message(shim, browser):
    for token in ("nilus_" + "0" * 64, "not-a-token"):
        state = open_dashboard(shim, browser, token, "acme")
        message = browser.evaluate("document.getElementById('message').textContent")
        check(state == "error" and "refused (401)" in message, f"bad token {token[:12]}: {state} {message!r}")
        check(browser.evaluate("document.getElementById('content').hidden"), "data shown with a bad token")
    state = open_dashboard(shim, browser, TOKENS["dash-read"], "globex")
    message = browser.evaluate("document.getElementById('message').textContent")
    check(state == "error" and "may not read tenant \"globex\" (403)" in message, f"another tenant: {message!r}")


if __name__ == "__main__":
    sys.exit(run_browser_suite("dashboard", TESTS, TMP, start_shim, sys.argv[1:]))
