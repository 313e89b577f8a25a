#!/usr/bin/env python3
"""The docs pages in a real browser: headless Chromium loads
/nilus-manager/docs (Swagger UI) and /nilus-manager/redoc (ReDoc) from the
real shim, counts the operations each page rendered, and logs every network
request the page made through the DevTools protocol (a websocket client in
the standard library): none may leave 127.0.0.1.

Run inside `pg_virtualenv -t` after `make` (the shim and its docs assets):
    python3 test/browser/run.py [-v] [substring ...]
It prints one line per failing test and ends with `browser: N passed, M failed`.
"""

import json
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from browser import Shim, http_get, outside, run_browser_suite  # noqa: E402
from suite import Failure, check, registry  # noqa: E402

TMP = Path(tempfile.mkdtemp(prefix="nilus-browser-"))


def start_shim():
    """The docs pages need no database."""
    return Shim(TMP, f"dbname={os.environ.get('PGDATABASE', 'postgres')} connect_timeout=2",
                "/nilus-manager/openapi.json")


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


TESTS, test = registry()


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


if __name__ == "__main__":
    sys.exit(run_browser_suite("browser", TESTS, TMP, start_shim, sys.argv[1:]))
