#!/usr/bin/env python3
"""The docs pages in a real browser: headless Chromium loads
/nilus-manager/docs (Swagger UI) and /nilus-manager/redoc (ReDoc) from the
real shim, counts the operations each page rendered, and logs every network
request the page made through the DevTools protocol (a websocket client in
the standard library): none may leave 127.0.0.1.

Run inside `pg_virtualenv -t` after `make` (the shim and its docs assets):
    python3 test/browser/run.py
It prints one line per failing test and ends with `browser: N passed, M failed`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from browser import CHROMIUM, Browser, http_get, outside  # noqa: E402
from suite import Failure, check, free_port, run_tests, wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("NILUS_MANAGER_BIN", str(REPO / "shim" / "nilus-manager"))
DOCS_DIR = os.environ.get("NILUS_DOCS_DIR", str(REPO / "shim" / "assets"))
TMP = Path(tempfile.mkdtemp(prefix="nilus-browser-"))


# ---------------------------------------------------------------- the shim

class Shim:
    """The real nilus-manager; the docs pages need no database."""

    def __init__(self):
        self.port, self.metrics_port = free_port(), free_port()
        self.log_path = TMP / "shim.log"
        env = dict(os.environ, NILUS_LISTEN=f"127.0.0.1:{self.port}",
                   NILUS_METRICS_LISTEN=f"127.0.0.1:{self.metrics_port}", NILUS_DOCS_DIR=DOCS_DIR,
                   NILUS_DSN=f"dbname={os.environ.get('PGDATABASE', 'postgres')} connect_timeout=2")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BIN], stdout=self.log, stderr=self.log, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_until("the shim answering openapi.json",
                   lambda: self.proc.poll() is None and
                   http_get(self.base + "/nilus-manager/openapi.json")[0] == 200, 20)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- the pages

def openapi_operations(shim):
    doc = json.loads(http_get(shim.base + "/nilus-manager/openapi.json")[1])
    return sorted(op["operationId"] for item in doc["paths"].values()
                  for method, op in item.items() if method in ("get", "post", "put", "delete", "patch"))


# What each page renders per operation: Swagger UI an .opblock, ReDoc a
# section of its middle panel, "tag/<tag>/operation/<operationId>" (its side
# menu has "operation/<operationId>" entries besides).
RENDERED = {
    "/nilus-manager/docs":
        "Array.from(document.querySelectorAll('.opblock .opblock-summary-path'))"
        ".map(e => e.closest('.opblock').id).filter(Boolean)",
    "/nilus-manager/redoc":
        "Array.from(new Set(Array.from(document.querySelectorAll('[data-section-id]'))"
        ".map(e => e.getAttribute('data-section-id')).filter(s => /^tag\\/[^\\/]+\\/operation\\//.test(s))))",
}


def load(browser, url, expected):
    script = RENDERED[urllib.parse.urlparse(url).path]
    ready = f"(found => found.length >= {len(expected)} && found)({script} || [])"
    try:
        found = browser.navigate(url, ready, f"{url}: {len(expected)} operations rendered")
    except Failure as e:
        found = browser.evaluate(script) or []
        raise Failure(f"{e} (found {len(found)}: {found})")
    browser.settle()
    return found, browser.requests(), browser.exceptions()


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check_page(shim, browser, path, must_load):
    expected = openapi_operations(shim)
    found, requests, errors = load(browser, shim.base + path, expected)
    check(len(found) == len(expected), f"{path}: {len(found)} operations rendered, "
                                       f"the OpenAPI document has {len(expected)}")
    for operation in expected:
        check(any(operation in f for f in found), f"{path}: operation {operation} not rendered ({found})")
    check(not errors, f"{path}: JavaScript exceptions: {errors[:2]}")
    local = {urllib.parse.urlparse(u).path for u in requests if not outside(u)}
    for asset in must_load:
        check(asset in local, f"{path}: the request log lacks {asset} ({sorted(local)}): "
                              f"is the network logged at all?")
    away = [u for u in requests if outside(u)]
    check(not away, f"{path}: requests outside 127.0.0.1: {away}")


@test
def swagger_ui_renders_every_operation_offline(shim, browser):
    check_page(shim, browser, "/nilus-manager/docs",
               ["/nilus-manager/docs", "/nilus-manager/openapi.json",
                "/nilus-manager/docs/swagger-ui-bundle.js", "/nilus-manager/docs/swagger-ui.css"])


@test
def redoc_renders_every_operation_offline(shim, browser):
    check_page(shim, browser, "/nilus-manager/redoc",
               ["/nilus-manager/redoc", "/nilus-manager/openapi.json",
                "/nilus-manager/docs/redoc.standalone.js"])


def main():
    passed = failed = 0
    shim = browser = None
    try:
        check(shutil.which(CHROMIUM), f"{CHROMIUM} is not installed (scripts/install-deps.sh installs it)")
        shim = Shim()
        browser = Browser(TMP)
        passed, failed = run_tests(TESTS, shim, browser)
    except Failure as e:
        failed += 1
        print(f"FAIL setup: {e}", flush=True)
    finally:
        if browser:
            browser.stop()
        if shim:
            shim.stop()
    if failed:
        print(f"logs: {TMP}")
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
