#!/usr/bin/env python3
"""What a newcomer relies on: the demo, the README's examples and the
reference in doc/, against the real thing.

- `scripts/demo.sh` is started as a user would (its own cluster, its own
  pg_virtualenv), and every curl and psql line it prints is run;
- every SQL block of the README runs in psql and every curl line of the README
  runs in a shell against the demo, as written, and must answer something
  (no error, no empty listing);
- doc/ is compared with the code: every route, operation and query parameter
  of the running shim's openapi.json, every flag and NILUS_* variable of
  shim/*.c, every metric family of /metrics, every function of the installed
  extension, every SQLSTATE rule and error code; every link of the README,
  CONTRIBUTING.md and doc/ resolves inside the repository;
- META.json is a valid PGXN meta-spec 1.0.0 document that claims what is built;
- a SIGINT to the demo's own process (not its process group) stops it and
  leaves nothing behind: no shim, no PostgreSQL, no cluster directory.

Run from test/run.sh, after `make install`:
    python3 test/docs/run.py [-v] [substring ...]
It prints one line per failing test and ends with `docs: N passed, M failed`.
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from suite import Failure, check, chosen, free_port, parse_argv, registry, run_suite, short, wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("NILUS_MANAGER_BIN", str(REPO / "shim" / "nilus-manager"))
DOC = REPO / "doc"
README = REPO / "README.md"
API = "/nilus-manager/api/v1"
DEMO_TIMEOUT = 300


# ---------------------------------------------------------------- the demo

class Demo:
    """scripts/demo.sh in the background, so that a signal reaches it only when
    sent to its pid: in a session of its own (as a supervisor starts it), or
    with nohup in the background of a shell script, which starts it with
    SIGINT and SIGHUP ignored and leaves it to init."""

    def __init__(self, nohup=False):
        self.listen = f"127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PG", "NILUS_")) or k in ("NILUS_MANAGER_BIN", "NILUS_DOCS_DIR")}
        env.update(NILUS_LISTEN=self.listen, NILUS_METRICS_LISTEN=self.metrics)
        self.out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"nilus-demo-test-{os.getpid()}-{self.listen[-5:]}.out"
        demo = str(REPO / "scripts" / "demo.sh")
        if nohup:
            self.proc = None
            started = subprocess.run(["sh", "-c", 'nohup "$0" > "$1" 2>&1 & echo $!', demo, str(self.out_path)],
                                     env=env, capture_output=True, text=True, check=True)
            self.pid = int(started.stdout)
        else:
            with open(self.out_path, "wb") as out:
                self.proc = subprocess.Popen([demo], stdout=out, stderr=subprocess.STDOUT, env=env,
                                             start_new_session=True)
            self.pid = self.proc.pid
        try:
            deadline = time.monotonic() + DEMO_TIMEOUT
            while "Ctrl-C" not in self.text() or "nilus-manager" not in self.text().split("Ctrl-C")[1]:
                check(self.running(), f"the demo exited: {short(self.text()[-1500:])}")
                check(time.monotonic() < deadline, f"the demo printed no token within {DEMO_TIMEOUT}s")
                time.sleep(0.2)
            self.parse()
            self.wait_ready()
        except Failure:
            self.stop()
            raise

    def running(self):
        return self.proc.poll() is None if self.proc else alive(self.pid)

    def wait_exit(self, timeout):
        """The exit status (None when not our child); a Failure after timeout seconds."""
        if self.proc:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Failure(f"the demo still runs {timeout} s after the signal")
        wait_until("the demo's exit after the signal", lambda: not alive(self.pid), timeout)
        return None

    def text(self):
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def parse(self):
        text = self.text()
        self.exports = {}
        for line in text.splitlines():
            if line.strip().startswith("export "):
                for word in shlex.split(line.strip())[1:]:
                    name, _, value = word.partition("=")
                    self.exports[name] = value
        check({"PGPASSFILE", "NILUS_URL", "NILUS_TOKEN"} <= set(self.exports),
              f"the demo's exports: {sorted(self.exports)}")
        conns = re.findall(r'^\s*psql "([^"]+)"\s*#\s*(\w+)', text, re.M)
        self.conn = {who: dsn for dsn, who in conns}
        check({"admin", "analyst"} <= set(self.conn), f"the demo's psql lines: {conns}")
        self.curls = [l.strip() for l in text.splitlines() if l.strip().startswith("curl ")]
        m = re.search(r"admin token \(every tenant\):\s*(\S+)", text)
        check(m, "the demo prints no admin token")
        self.admin_token = m.group(1)

    def wait_ready(self):
        def ready():
            with urllib.request.urlopen(f"http://{self.metrics}/readiness", timeout=2) as r:
                return r.status == 200
        try:
            wait_until("the demo's shim ready", ready, 30)
        except Failure as e:
            raise Failure(f"{e}: {short(self.text()[-800:])}")

    def env(self):
        return dict(os.environ, **self.exports)

    def shell(self, command, timeout=30):
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                              env=self.env(), timeout=timeout)

    def psql(self, who, sql, *args):
        env = {k: v for k, v in self.env().items() if k not in ("PGPASSWORD", "PGSERVICE")}
        return subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", self.conn[who], *args],
                              input=sql, capture_output=True, text=True, env=env, timeout=60)

    def query(self, sql):
        done = self.psql("admin", sql, "-At")
        check(done.returncode == 0, f"psql: {short(done.stderr)}")
        return done.stdout.strip()

    def stop(self):
        if self.running():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.wait_exit(60)
            except Failure:
                os.killpg(os.getpgid(self.pid), signal.SIGKILL)
        self.out_path.unlink(missing_ok=True)


DEMO = None


# ---------------------------------------------------------------- answers

def empty_listing(value):
    """A listing or an object that answers nothing: what an example must not show."""
    if isinstance(value, dict):
        if value.get("total") == 0 or value.get("exists") is False:
            return True
        return any(isinstance(v, list) and not v for v in value.values())
    return False


def check_curl(command, done):
    check(done.returncode == 0, f"{short(command)}: exit {done.returncode}: {short(done.stderr)}")
    text = done.stdout.strip()
    check(text, f"{short(command)}: no answer")
    if "/metrics" in command:
        check("nilus_manager_http_requests_total" in text, f"{short(command)}: not the metrics")
        return
    try:
        body = json.loads(text)
    except ValueError:
        raise Failure(f"{short(command)}: not JSON: {short(text)}")
    check(not (isinstance(body, dict) and isinstance(body.get("error"), dict)), f"{short(command)}: {short(text)}")
    check(not empty_listing(body), f"{short(command)}: an empty answer: {short(text)}")


# ---------------------------------------------------------------- tests

TESTS, test = registry()


def openapi():
    with urllib.request.urlopen(f"http://{DEMO.listen}/nilus-manager/openapi.json", timeout=5) as r:
        return json.loads(r.read())


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                yield method.upper(), path, op


def curl_target(command):
    """(METHOD, path template) a printed curl command calls."""
    words = shlex.split(command.replace("$NILUS_URL", "URL"))
    method = "POST" if any(w in ("-d", "--data", "--data-raw") for w in words) else "GET"
    url = next(w for w in words if w.startswith(("URL", "http")))
    return method, url.split("?")[0].replace("URL", API)


def template_matches(template, path):
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


@test
def demo_prints_a_curl_for_every_operation_and_each_answers():
    targets = [curl_target(c) for c in DEMO.curls]
    for method, path, op in operations(openapi()):
        check(any(m == method and template_matches(path, p) for m, p in targets),
              f"the demo prints no curl for {method} {path} ({op['operationId']})")
    for command in DEMO.curls:
        check_curl(command, DEMO.shell(command))


@test
def demo_offsets_post_uses_a_cdc_pipeline_resource():
    post = next(c for c in DEMO.curls if "/offsets" in c and " -d " in c)
    body = json.loads(re.search(r"-d '([^']*)'", post).group(1))
    pipeline = re.search(r"/pipeline/([^/]+)/offsets", post).group(1)
    kinds = DEMO.query("SELECT string_agg(DISTINCT resource_id, ',') FROM nilus.cdc_offset "
                       f"WHERE tenant = 'acme' AND pipeline_name = '{pipeline}'")
    check(body["resource_id"] in kinds.split(","),
          f"the offsets POST sends {body['resource_id']} to {pipeline}, whose resource is {kinds}")


@test
def demo_psql_lines_connect_as_admin_and_analyst():
    eq_user = DEMO.psql("admin", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", "-At")
    check(eq_user.returncode == 0 and eq_user.stdout.strip() == "t",
          f"the admin line is no superuser: {short(eq_user.stdout + eq_user.stderr)}")
    analyst = DEMO.psql("analyst", "SELECT count(DISTINCT tenant) || ':' || min(tenant) FROM nilus.pipeline_run", "-At")
    check(analyst.returncode == 0 and analyst.stdout.strip() == "1:acme",
          f"the analyst sees tenants {short(analyst.stdout + analyst.stderr)}, expected acme only")


@test
def no_password_on_any_command_line():
    secrets = [line.rsplit(":", 1)[1] for line in Path(DEMO.exports["PGPASSFILE"]).read_text().splitlines()]
    check(secrets, "the demo's password file is empty")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        for secret in secrets:
            check(secret not in argv, f"a password is on the command line of pid {pid}: {short(argv.replace(chr(0), ' '))}")


def fenced_blocks(text, languages):
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        if m.group(1) in languages:
            yield m.group(1), m.group(2)


def shell_commands(block):
    """The curl commands of a shell block, continuation lines joined."""
    lines = block.replace("\\\n", " ").splitlines()
    return [l.strip() for l in lines if l.strip().startswith("curl ")]


@test
def readme_sql_examples_run_as_written_and_answer():
    blocks = list(fenced_blocks(README.read_text(), {"sql"}))
    check(len(blocks) >= 3, f"the README has {len(blocks)} SQL blocks")
    for _, block in blocks:
        if block.lstrip().lower().startswith("-- needs "):
            continue            # says what it needs that the demo lacks (pg_cron)
        who = "admin" if block.lstrip().lower().startswith("-- as a superuser") else "analyst"
        done = DEMO.psql(who, block)
        check(done.returncode == 0 and "ERROR" not in done.stderr,
              f"README SQL as {who} failed: {short(done.stderr)}\n{short(block)}")
        check("(0 rows)" not in done.stdout, f"README SQL answers no row:\n{short(block)}")
        for m in re.finditer(r'"total"\s*:\s*0\b|"(pipelines|runs|offsets|records|schema_history)"\s*:\s*\[\s*\]',
                             done.stdout):
            raise Failure(f"README SQL gives an empty listing ({m.group(0)}):\n{short(block)}")


@test
def readme_curl_examples_run_as_written_and_answer():
    commands = [c for _, b in fenced_blocks(README.read_text(), {"sh", "bash", "shell"})
                for c in shell_commands(b)]
    check(len(commands) >= 3, f"the README has {len(commands)} curl examples")
    for command in commands:
        check_curl(command, DEMO.shell(command))


@test
def readme_shows_analysts_a_readable_way():
    text = README.read_text()
    for way in (r"\x", "jsonb_pretty", "json_to_recordset", "->>"):
        check(way in text, f"the README does not show {way}")


# ---- the reference against the code

def doc_text(name):
    path = DOC / name
    check(path.exists(), f"doc/{name} is missing")
    return path.read_text()


def section(text, heading):
    """The text under a heading, up to the next heading of the same or a higher level."""
    m = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.M)
    if not m:
        return None
    level = len(m.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, m.end())
    return text[m.end():end.start() if end else len(text)]


@test
def http_reference_lists_every_operation_parameter_and_status():
    text = doc_text("http-api.md")
    doc = openapi()
    for method, path, op in operations(doc):
        body = section(text, f"{method} {path}")
        check(body is not None, f"doc/http-api.md has no section '{method} {path}'")
        check(f"nilus.{op['operationId']}(" in body,
              f"doc/http-api.md: {method} {path} does not name nilus.{op['operationId']}")
        for p in op.get("parameters", []):
            if p["in"] == "query":
                check(f"`{p['name']}`" in body, f"doc/http-api.md: {method} {path} lacks `{p['name']}`")
        success = next(c for c in op["responses"] if c.startswith("2"))
        check(f"**{success}**" in body, f"doc/http-api.md: {method} {path} does not say **{success}**")
    for path in ("/nilus-manager/openapi.json", "/nilus-manager/docs", "/nilus-manager/redoc"):
        check(section(text, f"GET {path}") is not None, f"doc/http-api.md has no section 'GET {path}'")
    redirects = set(re.findall(r"/[\w/-]*", " ".join(re.findall(r"^### GET (/,.*)$", text, re.M))))
    for path in ("/", "/nilus-manager", "/nilus-manager/", "/nilus-manager/docs/"):
        check(path in redirects, f"doc/http-api.md: no section names the redirect of {path}")
        with urllib.request.urlopen(f"http://{DEMO.listen}{path}") as r:
            check(r.status == 200 and urllib.parse.urlparse(r.url).path == "/nilus-manager/docs",
                  f"GET {path} of the demo ends at {r.url} ({r.status}), not /nilus-manager/docs")


def shim_sources():
    return "\n".join(p.read_text() for p in sorted((REPO / "shim").glob("*.c")))


@test
def configuration_reference_lists_every_flag_and_variable():
    text = doc_text("configuration.md")
    source = shim_sources()
    flags = set(re.findall(r'\{"([a-z][a-z-]*)",\s*(?:required|no|optional)_argument', source))
    check(len(flags) >= 6, f"found only {sorted(flags)} in shim/*.c: has the option table moved?")
    for flag in flags:
        check(f"`--{flag}" in text, f"doc/configuration.md lacks --{flag}")
    variables = set(re.findall(r'"(NILUS_[A-Z_]+)"', source))
    check(len(variables) >= 6, f"found only {sorted(variables)} in shim/*.c")
    for variable in variables:
        check(f"`{variable}`" in text, f"doc/configuration.md lacks {variable}")
    usage = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    for flag in re.findall(r"--([a-z][a-z-]+)", usage.stdout):
        check(f"`--{flag}" in text, f"doc/configuration.md lacks --{flag} of nilus-manager --help")


@test
def configuration_reference_lists_every_setting_of_the_extension():
    text = doc_text("configuration.md")
    settings = set(re.findall(r'"(nilus\.[a-z_]+)"', (REPO / "extension" / "settings.c").read_text()))
    check(len(settings) >= 9, f"found only {sorted(settings)} in extension/settings.c: have the settings moved?")
    for name in settings:
        check(re.search(rf"^\| `{re.escape(name)}` \|", text, re.M), f"doc/configuration.md has no row for {name}")
        check(f"{name} = " in README.read_text(), f"the README shows {name} set nowhere (its postgresql.conf excerpt)")


@test
def metrics_reference_lists_every_family_with_type_and_labels():
    text = doc_text("metrics.md")
    with urllib.request.urlopen(f"http://{DEMO.metrics}/metrics", timeout=5) as r:
        exposition = r.read().decode()
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M))
    check(families, "no metric family in /metrics")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_]+)` \|.*$", text, re.M)}
    for name, kind in families.items():
        check(name in rows, f"doc/metrics.md lacks the family {name}")
        check(f"| {kind} |" in rows[name], f"doc/metrics.md: {name} is a {kind}")
        labels = set()
        for m in re.finditer(rf"^{re.escape(name)}(?:_bucket|_sum|_count)?\{{([^}}]*)\}}", exposition, re.M):
            labels |= set(re.findall(r'(\w+)="', m.group(1)))
        for label in labels:
            check(f"`{label}`" in rows[name], f"doc/metrics.md: {name} lacks the label {label}")


@test
def sql_reference_lists_every_function_with_its_arguments():
    text = doc_text("sql.md")
    rows = DEMO.query("SELECT p.proname || '|' || pg_get_function_identity_arguments(p.oid) "
                      "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                      "WHERE n.nspname = 'nilus' ORDER BY 1")
    check(rows, "no function in schema nilus")
    for row in rows.splitlines():
        name, _, args = row.partition("|")
        heading = re.search(rf"^### (nilus\.{re.escape(name)}\(.*\))\s*$", text, re.M)
        check(heading, f"doc/sql.md has no heading for nilus.{name}(...)")
        # "IN batch_size integer, tenant text, ..." -> the input arguments' names
        for arg in filter(None, (re.sub(r"^(IN|INOUT|VARIADIC) ", "", a.strip()).split(" ")[0].strip('"')
                                 for a in args.split(",") if not a.strip().startswith("OUT "))):
            check(re.search(rf"\b{re.escape(arg)}\b", heading.group(1)),
                  f"doc/sql.md: nilus.{name} lacks its argument {arg}")


@test
def errors_reference_lists_every_code_and_sqlstate_rule():
    text = doc_text("errors.md")
    codes = openapi()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    for code in codes:
        check(re.search(rf"^\| \d{{3}} \| `{code}` \|", text, re.M), f"doc/errors.md lacks the code {code}")
    rules = re.findall(r'\{"([0-9A-Z]*)",\s*(\d{3}),', shim_sources())
    check(len(rules) >= 8, f"found only {rules} in shim/errors.c")
    for prefix, status in rules:
        if prefix:
            check(re.search(rf"^\| `{prefix}`[^|]*\| {status} \|", text, re.M),
                  f"doc/errors.md: SQLSTATE {prefix} -> {status} is not in the table")
        else:
            check(re.search(rf"^\| anything else \| {status} \|", text, re.M),
                  f"doc/errors.md: the fallback -> {status} is not in the table")


@test
def every_link_resolves_inside_the_repository():
    pages = [README, *sorted(DOC.glob("*.md"))]
    if (REPO / "CONTRIBUTING.md").exists():
        pages.append(REPO / "CONTRIBUTING.md")
    for page in pages:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            where = f"{page.relative_to(REPO)}: link {target}"
            check(not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I), f"{where} leaves the repository")
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            check(resolved == REPO or REPO in resolved.parents, f"{where} leaves the repository")
            check(resolved.exists(), f"{where} does not exist")
            if anchor and resolved.suffix == ".md":
                anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+?)\s*$", resolved.read_text(), re.M)}
                check(anchor in anchors, f"{where}: no heading with anchor #{anchor}")
        outside = re.search(r"\bSPEC\b|\.\./shared|shared/", page.read_text())
        check(not outside, f"{page.relative_to(REPO)} refers to a contract outside the repository: {outside and outside.group()}")


def github_anchor(heading):
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@test
def readme_names_every_make_target():
    text = README.read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*)\s*:", (REPO / "Makefile").read_text(), re.M))
    for target in {t for t in targets if t.startswith("check-")} | {"test", "demo", "dist", "install"}:
        check(f"make {target}" in text, f"the README does not name `make {target}`")


# ---- META.json

META_REQUIRED = {"name", "abstract", "maintainer", "license", "provides", "meta-spec", "version"}
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
            "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z-]+)?$")


def check_meta(meta):
    """PGXN meta-spec 1.0.0: required keys and the shape of the fields it defines."""
    missing = META_REQUIRED - set(meta)
    check(not missing, f"META.json lacks {sorted(missing)}")
    check(meta["meta-spec"].get("version") == "1.0.0", "META.json: meta-spec.version must be 1.0.0")
    check(re.fullmatch(r"[A-Za-z0-9_.-]{2,}", meta["name"]), "META.json: name")
    check(SEMVER.match(meta["version"]), f"META.json: version {meta['version']} is not semantic")
    check(isinstance(meta["abstract"], str) and meta["abstract"], "META.json: abstract")
    maintainer = meta["maintainer"]
    check(isinstance(maintainer, str) or (isinstance(maintainer, list) and maintainer), "META.json: maintainer")
    licenses = meta["license"]
    names = [licenses] if isinstance(licenses, str) else list(licenses)
    check(isinstance(licenses, dict) or all(n in LICENSES for n in names), f"META.json: license {licenses}")
    check(isinstance(meta["provides"], dict) and meta["provides"], "META.json: provides")
    for ext, spec in meta["provides"].items():
        check({"file", "version"} <= set(spec), f"META.json: provides.{ext} needs file and version")
        check(SEMVER.match(spec["version"]), f"META.json: provides.{ext}.version")
        check((REPO / spec["file"]).exists(), f"META.json: provides.{ext}.file {spec['file']} is missing")
        if "docfile" in spec:
            check((REPO / spec["docfile"]).exists(), f"META.json: provides.{ext}.docfile is missing")
    for phase, relations in meta.get("prereqs", {}).items():
        check(phase in {"configure", "build", "test", "runtime", "develop"}, f"META.json: prereqs phase {phase}")
        for relation in relations:
            check(relation in {"requires", "recommends", "suggests", "conflicts"},
                  f"META.json: prereqs.{phase}.{relation}")
    check(meta.get("release_status", "stable") in {"stable", "testing", "unstable"}, "META.json: release_status")
    for key in meta:
        check(key in META_REQUIRED | {"description", "prereqs", "resources", "generated_by", "tags",
                                      "no_index", "release_status"} or key.lower().startswith("x_"),
              f"META.json: unknown key {key} (custom keys start with x_)")


@test
def meta_json_is_pgxn_valid_and_claims_what_is_built():
    meta = json.loads((REPO / "META.json").read_text())
    check_meta(meta)
    version = extension_version()
    check(meta["version"] == version and meta["provides"]["nilus"]["version"] == version,
          f"META.json's versions are not the control file's {version}")
    pg = meta["prereqs"]["runtime"]["requires"].get("PostgreSQL", "")
    check(re.fullmatch(r">= 15\.\d+\.\d+, < 16\.0\.0", pg),
          f"META.json claims PostgreSQL {pg!r}: only 15 is built and tested")


@test
def debian_package_version_is_the_extensions():
    changelog = (REPO / "debian" / "changelog").read_text()
    top = re.match(r"nilus \(([^)]+)\)", changelog)
    check(top and top.group(1).split("-")[0] == extension_version(),
          f"debian/changelog's newest version {top and top.group(1)} is not the control file's "
          f"{extension_version()}: add an entry")


@test
def meta_check_refuses_a_broken_document():
    meta = json.loads((REPO / "META.json").read_text())
    for breaks in ({"version": "2"}, {"license": "beerware"}, {"meta-spec": {"version": "2.0.0"}},
                   {"colour": "blue"}):
        try:
            check_meta(dict(meta, **breaks))
        except Failure:
            continue
        raise Failure(f"the META.json check accepts {breaks}")
    broken = dict(meta)
    del broken["abstract"]
    try:
        check_meta(broken)
    except Failure:
        return
    raise Failure("the META.json check accepts a document without abstract")


def extension_version():
    control = (REPO / "extension" / "nilus.control").read_text()
    return re.search(r"default_version\s*=\s*'([^']+)'", control).group(1)


@test
def make_dist_writes_a_pgxn_zip_of_the_committed_tree():
    version = extension_version()
    archive = REPO / f"nilus-{version}.zip"
    done = subprocess.run(["make", "-s", "dist"], cwd=REPO, capture_output=True, text=True)
    try:
        check(done.returncode == 0, f"make dist: {short(done.stdout + done.stderr)}")
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            prefix = f"nilus-{version}/"
            check(all(n.startswith(prefix) for n in names), "make dist: entries outside nilus-<version>/")
            committed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
            head = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD"], cwd=REPO,
                                  capture_output=True, text=True).stdout.split()
            check(sorted(n[len(prefix):] for n in names if not n.endswith("/")) == sorted(head),
                  "make dist: the zip is not HEAD's tree")
            for needed in ("META.json", "Makefile", "README.md", "extension/nilus.control",
                           "sql/nilus--0.1.0.sql", "doc/sql.md"):
                check(needed in committed and prefix + needed in names, f"make dist: {needed} is missing")
            check_meta(json.loads(z.read(prefix + "META.json")))
    finally:
        archive.unlink(missing_ok=True)


# ---- stopping the demo

def descendants(root):
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(pid))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def check_sigint_stops_everything(demo):
    data_dir = demo.query("SHOW data_directory")
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    processes = descendants(demo.pid) + descendants(postmaster)
    check(any("nilus-manager" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
              for p in processes if alive(p)), "the demo's shim is not among its processes")
    os.kill(demo.pid, signal.SIGINT)
    code = demo.wait_exit(60)
    check(code in (0, None), f"the demo exited {code} after SIGINT")
    wait_until("the demo's processes gone", lambda: not any(alive(p) for p in processes), 10)
    check(not Path(data_dir).exists(), f"the demo's cluster {data_dir} is left")
    check(not Path(demo.exports["PGPASSFILE"]).exists(), "the demo's password file is left")
    for address in (demo.listen, demo.metrics):
        host, port = address.rsplit(":", 1)
        with socket.socket() as s:
            check(s.connect_ex((host, int(port))) != 0, f"something still listens on {address}")


@test
def sigint_stops_a_demo_started_with_nohup_in_a_scripts_background():
    demo = Demo(nohup=True)
    try:
        ppid = re.search(r"^PPid:\s*(\d+)", Path(f"/proc/{demo.pid}/status").read_text(), re.M).group(1)
        check(int(ppid) != os.getpid(), "the nohup demo should have been left by its shell")
        check_sigint_stops_everything(demo)
    finally:
        demo.stop()


@test
def sigint_to_the_demo_process_stops_everything():
    check_sigint_stops_everything(DEMO)


def start_demo():
    global DEMO
    DEMO = Demo()
    return ()


def stop_demo():
    if DEMO:
        DEMO.stop()


def main(argv):
    verbose, _, words = parse_argv(argv)
    return run_suite(chosen(TESTS, words), start_demo, stop_demo, label="docs", verbose=verbose)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
