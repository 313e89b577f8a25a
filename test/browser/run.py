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

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from suite import Failure, check, free_port, run_tests, wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("NILUS_MANAGER_BIN", str(REPO / "shim" / "nilus-manager"))
DOCS_DIR = os.environ.get("NILUS_DOCS_DIR", str(REPO / "shim" / "assets"))
CHROMIUM = os.environ.get("CHROMIUM", "chromium")
TMP = Path(tempfile.mkdtemp(prefix="nilus-browser-"))
PAGE_TIMEOUT = 60.0
LOCAL_HOSTS = {"127.0.0.1"}


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


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


# ---------------------------------------------------------------- DevTools over a websocket

class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, masked
    from the client, fragmented or not from the server."""

    def __init__(self, url, timeout=PAGE_TIMEOUT):
        parts = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            check(chunk, "the DevTools websocket closed during its handshake")
            head += chunk
        head, _, self.buffer = head.partition(b"\r\n\r\n")
        check(b" 101 " in head.split(b"\r\n")[0], f"DevTools websocket handshake: {head[:200]!r}")

    def send(self, text):
        data = text.encode()
        header = bytearray([0x81])
        if len(data) < 126:
            header.append(0x80 | len(data))
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def read_exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            check(chunk, "the DevTools websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self):
        message = b""
        while True:
            first, second = self.read_exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self.read_exactly(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self.read_exactly(8))[0]
            payload = self.read_exactly(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise Failure("the browser closed the DevTools connection")
            if opcode in (0x9, 0xA):
                continue
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self):
        self.sock.close()


class Browser:
    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0"]

    def __init__(self):
        self.profile = TMP / "profile"
        self.log = open(TMP / "chromium.log", "wb")
        self.proc = subprocess.Popen([CHROMIUM, *self.FLAGS, f"--user-data-dir={self.profile}",
                                      "about:blank"], stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        port_file = self.profile / "DevToolsActivePort"
        port = wait_until("Chromium's DevTools port", lambda: self.alive() and port_file.exists()
                          and port_file.read_text().split("\n")[0].strip(), 30)
        targets = json.loads(http_get(f"http://127.0.0.1:{port}/json/list")[1])
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"])
        self.next_id = 0
        self.events = []

    def alive(self):
        check(self.proc.poll() is None, f"Chromium exited: {(TMP / 'chromium.log').read_text()[-500:]}")
        return True

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:
                check("error" not in message, f"{method}: {message.get('error')}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def stop(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
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
    browser.events.clear()
    browser.call("Network.enable")
    browser.call("Runtime.enable")
    browser.call("Page.enable")
    browser.call("Page.navigate", url=url)

    def rendered():
        found = browser.evaluate(RENDERED[urllib.parse.urlparse(url).path]) or []
        return found if len(found) >= len(expected) else None
    try:
        found = wait_until(f"{url}: {len(expected)} operations rendered", rendered, PAGE_TIMEOUT)
    except Failure as e:
        found = browser.evaluate(RENDERED[urllib.parse.urlparse(url).path]) or []
        raise Failure(f"{e} (found {len(found)}: {found})")
    time.sleep(1.0)                 # let late requests (images, fonts) show up in the log
    browser.evaluate("1")           # drains the events that arrived meanwhile
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
    errors = [e["params"]["exceptionDetails"] for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"]
    return found, requests, errors


def outside(url):
    parts = urllib.parse.urlparse(url)
    return parts.scheme in ("http", "https", "ws", "wss", "ftp") and parts.hostname not in LOCAL_HOSTS


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
        browser = Browser()
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
