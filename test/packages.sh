#!/bin/sh
# make check-packages: builds the Debian packages from this tree
# (dpkg-buildpackage -b -us -uc in a copy of it), installs them with dpkg -i,
# checks what they installed, runs the test suites against the installed
# /usr/bin/nilus-manager and the packaged extension, and removes the packages.
# As root (dpkg -i); hold the install lock, like `make test`.
set -eu
cd "$(dirname "$0")/.."
version=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" extension/nilus.control)
work=$(mktemp -d -t nilus-packages.XXXXXX)
installed=""
cleanup() {
    [ -n "$installed" ] && dpkg --purge nilus-manager postgresql-15-nilus >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== building the Debian packages (dpkg-buildpackage -b -us -uc)"
mkdir "$work/nilus-$version"
# The working tree as it is (tracked and new files), without what the build makes.
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$work/nilus-$version"
if ! (cd "$work/nilus-$version" && dpkg-buildpackage -b -us -uc) > "$work/build.log" 2>&1; then
    tail -40 "$work/build.log"
    echo "packages: 0 passed, 1 failed (the packages did not build)"
    exit 1
fi
ls "$work"/*.deb

echo "== installing them (dpkg -i)"
installed=1
dpkg -i "$work/postgresql-15-nilus_${version}_"*.deb "$work/nilus-manager_${version}_"*.deb

echo "== what they installed"
failed=0 passed=0
expect() {
    if (eval "$2"); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1"; fi
}
expect "the extension's library comes from postgresql-15-nilus" \
    '[ "$(dpkg -S /usr/lib/postgresql/15/lib/nilus.so | cut -d: -f1)" = postgresql-15-nilus ]'
expect "the control file and install scripts come from postgresql-15-nilus" \
    'dpkg -L postgresql-15-nilus | grep -q "/usr/share/postgresql/15/extension/nilus.control" &&
     dpkg -L postgresql-15-nilus | grep -q "nilus--0.1.0--0.2.0.sql"'
expect "/usr/bin/nilus-manager --version is $version" \
    '[ "$(/usr/bin/nilus-manager --version)" = "nilus-manager $version" ]'
expect "the docs assets are in /usr/share/nilus-manager/docs" \
    '[ -s /usr/share/nilus-manager/docs/swagger-ui-bundle.js ] && [ -s /usr/share/nilus-manager/docs/redoc.standalone.js ]'
expect "the settings and password file are root's only (0600)" \
    '[ "$(stat -c %a /etc/default/nilus-manager)" = 600 ] && [ "$(stat -c %a /etc/nilus-manager/pgpass)" = 600 ]'
expect "the unit is hardened, reads its settings from files and passes no password on argv" \
    'u=/lib/systemd/system/nilus-manager.service;
     for s in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
              EnvironmentFile=/etc/default/nilus-manager LoadCredential=pgpass:/etc/nilus-manager/pgpass \
              "ExecStart=/usr/bin/nilus-manager"; do grep -qx "$s" $u || { echo "  $u lacks $s"; exit 1; }; done;
     ! grep -q "^ExecStart=.*\(--dsn\|password\)" $u'
if command -v systemd-analyze >/dev/null; then
    expect "systemd-analyze verify accepts the unit" \
        'systemd-analyze verify /lib/systemd/system/nilus-manager.service'
    # systemd's own rating of the sandbox: 0 (locked down) to 10; 2 and below is "OK".
    expect "systemd-analyze security rates the unit's exposure at 2.0 or below" \
        'systemd-analyze security --offline=true --threshold=20 --no-pager \
            /lib/systemd/system/nilus-manager.service >/dev/null'
fi
expect "the unit is not enabled at install (it needs its settings first)" \
    '! [ -e /etc/systemd/system/multi-user.target.wants/nilus-manager.service ]'
expect "the package's files are intact (dpkg --verify)" \
    '[ -z "$(dpkg --verify postgresql-15-nilus nilus-manager)" ]'
echo "packages: $passed passed, $failed failed"

echo "== the test suites against the installed packages"
status=0
NILUS_MANAGER_BIN=/usr/bin/nilus-manager NILUS_DOCS_DIR=/usr/share/nilus-manager/docs test/run.sh || status=1
# The suites ran on the packaged files, unchanged under them.
[ -z "$(dpkg --verify postgresql-15-nilus nilus-manager)" ] || { echo "FAIL the packaged files changed during the tests"; status=1; }
echo "packages: $passed passed, $failed failed"
[ "$failed" = 0 ] || status=1
exit $status
