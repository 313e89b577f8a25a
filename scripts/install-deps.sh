#!/bin/sh
# Installs the Debian packages nilus needs to build, test and benchmark, when
# any is missing.  As root it runs apt-get; otherwise it says what to run.
set -eu
packages="postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
libgnutls28-dev libjansson-dev postgresql-15-pgtap
libtap-parser-sourcehandler-pgtap-perl prometheus nodejs npm gcc make
openssl clang libclang-rt-dev chromium"
[ "${NILUS_BENCH_DEPS:-}" ] && packages="$packages wrk"
# Building the Debian packages (make check-packages) only.
[ "${NILUS_PACKAGE_DEPS:-}" ] && packages="$packages debhelper devscripts postgresql-server-dev-all"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# node and npm may come from outside Debian (an image's own build): accept them.
case "$missing" in *nodejs*|*npm*)
    if command -v node >/dev/null && command -v npm >/dev/null; then
        missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
    fi;;
esac
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps apt from starting services (a packaged prometheus would take :9090).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing
