"""What the Python test suites share: failures, checks, the registry of a
suite's tests and the loop that runs them and prints `N passed, M failed`
(stdlib only)."""

import collections
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


def registry():
    """(tests, test): a suite's list of tests and the decorator that adds one to it."""
    tests = []

    def test(fn):
        tests.append(fn)
        return fn
    return tests, test


# What a test returns that runs a suite of its own: its counts stand for it.
Tally = collections.namedtuple("Tally", "passed failed")


def parse_argv(argv, valued=()):
    """(verbose, values, words) of a suite's command line: -v; {option: value} of
    the options named in valued; the other words, substrings of the tests to run."""
    values = {o: argv[argv.index(o) + 1] for o in valued if o in argv}
    taken = {"-v", *values, *values.values()}
    return "-v" in argv, values, [a for a in argv if a not in taken]


def chosen(tests, words, always=()):
    """The tests whose names contain one of the words (all tests without words),
    and those in always."""
    return [t for t in tests if not words or any(w in t.__name__ for w in words) or t in always]


def run_tests(tests, *args, verbose=False, before=None):
    """Runs each test with args, after before(test) where given (its Failure is
    the test's); prints one line per failure, and per success with -v or when
    the test returns its figures (a str). A test that returns a Tally counts
    as its passed and failed tests. Returns (passed, failed)."""
    passed = failed = 0
    for fn in tests:
        started = time.monotonic()
        try:
            if before:
                before(fn)
            outcome = fn(*args)
        except Failure as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {' '.join(str(e).split())}", flush=True)
            continue
        except Exception as e:  # a broken test or connection is a failure too
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {' '.join(str(e).split())}", flush=True)
            continue
        if isinstance(outcome, Tally):
            passed += outcome.passed
            failed += outcome.failed
        else:
            passed += 1
        figures = f": {outcome}" if isinstance(outcome, str) else ""
        if verbose or figures:
            print(f"ok {fn.__name__} ({time.monotonic() - started:.1f}s){figures}", flush=True)
    return passed, failed


def summarize(passed, failed, logs=None, label="", remove_logs=True):
    """Says where the logs are, if any, when a test failed, else removes them
    (a directory of the suite's own, unless remove_logs is false); prints
    `[label: ]N passed, M failed`; returns the exit status."""
    if logs and failed:
        print(f"logs: {logs}")
    elif logs and remove_logs:
        shutil.rmtree(logs, ignore_errors=True)
    print(f"{label + ': ' if label else ''}{passed} passed, {failed} failed")
    return 1 if failed else 0


def run_suite(tests, setup=lambda: (), teardown=None, logs=None, label="", remove_logs=True, **run):
    """A suite's whole run: setup() gives the tests' arguments (its Failure is
    one failure, `FAIL setup`), run_tests (run: its keywords), teardown() in
    any case, then the summary (summarize)."""
    passed = failed = 0
    try:
        args = setup()
        passed, failed = run_tests(tests, *args, **run)
    except Failure as e:
        failed += 1
        print(f"FAIL setup: {e}", flush=True)
    finally:
        if teardown:
            teardown()
    return summarize(passed, failed, logs, label, remove_logs)
