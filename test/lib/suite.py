"""What the Python test suites share: failures, checks and the loop that runs
the tests and prints `N passed, M failed` (stdlib only)."""

import shutil
import socket
import time


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def short(value, limit=400):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


_HANDED_OUT = set()


def free_port():
    """A port nothing listens on and this run has not handed out before: the
    kernel may offer a just-closed port again, and an API and a metrics port
    picked one after the other must differ."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_until(what, probe, timeout):
    """probe()'s first true answer; a Failure after timeout seconds (OSError counts as no)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.1)


def run_tests(tests, *args, verbose=False, before=None):
    """Runs each test with args, after before(test) where given (its Failure is
    the test's); prints one line per failure. Returns (passed, failed)."""
    passed = failed = 0
    for fn in tests:
        started = time.monotonic()
        try:
            if before:
                before(fn)
            fn(*args)
        except Failure as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {' '.join(str(e).split())}", flush=True)
            continue
        except Exception as e:  # a broken test or connection is a failure too
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {' '.join(str(e).split())}", flush=True)
            continue
        passed += 1
        if verbose:
            print(f"ok {fn.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
    return passed, failed


def summarize(passed, failed, logs, label=""):
    """Keeps the logs directory when a test failed (and says where), else
    removes it; prints `[label: ]N passed, M failed`; returns the exit status."""
    if failed:
        print(f"logs: {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    print(f"{label + ': ' if label else ''}{passed} passed, {failed} failed")
    return 1 if failed else 0
