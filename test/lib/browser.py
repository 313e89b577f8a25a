"""Headless Chromium driven over the DevTools protocol (a websocket client
in the standard library), for the suites that test pages in a real
browser: load a page, evaluate JavaScript in it, and read the network
requests and exceptions it logged; and what those suites share around it:
the real shim serving the pages, and the main loop that starts both, runs
the tests and prints `<suite>: N passed, M failed`."""

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from suite import Failure, check, chosen, free_port, parse_argv, run_suite, wait_until

CHROMIUM = os.environ.get("CHROMIUM", "chromium")
REPO = Path(__file__).resolve().parents[2]
SHIM_BIN = os.environ.get("NILUS_MANAGER_BIN", str(REPO / "shim" / "nilus-manager"))
DOCS_DIR = os.environ.get("NILUS_DOCS_DIR", str(REPO / "shim" / "assets"))
PAGE_TIMEOUT = 60.0
LOCAL_HOSTS = {"127.0.0.1"}


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def outside(url):
    """Whether a request left the machine (127.0.0.1 is the only local host the tests use)."""
    parts = urllib.parse.urlparse(url)
    return parts.scheme in ("http", "https", "ws", "wss", "ftp") and parts.hostname not in LOCAL_HOSTS


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
    """One headless Chromium with one page; its profile and log live in tmp."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0"]

    def __init__(self, tmp):
        self.profile = tmp / "profile"
        self.log_path = tmp / "chromium.log"
        self.log = open(self.log_path, "wb")
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
        check(self.proc.poll() is None, f"Chromium exited: {self.log_path.read_text()[-500:]}")
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

    def navigate(self, url, ready, what, timeout=PAGE_TIMEOUT):
        """Loads url with the event log cleared; returns the first true value of the
        JavaScript expression ready."""
        self.events.clear()
        self.call("Network.enable")
        self.call("Runtime.enable")
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        return wait_until(what, lambda: self.evaluate(ready), timeout)

    def settle(self, seconds=1.0):
        """Lets late requests show up in the log, then drains the events that arrived."""
        time.sleep(seconds)
        self.evaluate("1")

    def requests(self):
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def exceptions(self):
        return [e["params"]["exceptionDetails"] for e in self.events
                if e.get("method") == "Runtime.exceptionThrown"]

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


def stop_process(proc, timeout=15):
    """SIGTERM, then SIGKILL when it is still running timeout seconds later."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Shim:
    """The real nilus-manager serving the pages, connected with dsn, its log in
    tmp; ready once ready_path answers 200.  settings: more NILUS_* variables."""

    def __init__(self, tmp, dsn, ready_path, **settings):
        port = free_port()
        env = dict(os.environ, NILUS_LISTEN=f"127.0.0.1:{port}", NILUS_METRICS_LISTEN=f"127.0.0.1:{free_port()}",
                   NILUS_DOCS_DIR=DOCS_DIR, NILUS_DSN=dsn, **settings)
        self.log = open(tmp / "shim.log", "wb")
        self.proc = subprocess.Popen([SHIM_BIN], stdout=self.log, stderr=self.log, env=env)
        self.base = f"http://127.0.0.1:{port}"
        wait_until(f"the shim answering {ready_path}",
                   lambda: self.proc.poll() is None and http_get(self.base + ready_path)[0] == 200, 20)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def run_browser_suite(name, tests, tmp, start_shim, argv):
    """Starts the shim (start_shim(), which also arranges what it serves) and
    Chromium, runs the tests argv chooses with both (suite.py), stops them, and
    summarizes with tmp as the logs."""
    verbose, _, words = parse_argv(argv)
    running = {}

    def start():
        check(shutil.which(CHROMIUM), f"{CHROMIUM} is not installed (scripts/install-deps.sh installs it)")
        running["shim"] = start_shim()
        running["browser"] = Browser(tmp)
        return running["shim"], running["browser"]

    def stop():
        for part in ("browser", "shim"):
            if part in running:
                running[part].stop()

    return run_suite(chosen(tests, words), start, stop, logs=tmp, label=name, verbose=verbose)
