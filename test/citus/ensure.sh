#!/bin/sh
# Makes sure Citus is installed for the PostgreSQL that pg_config names:
# nothing to do when it is; else built from ../shared/citus/ beside the
# repository when that is there (developers' machines and CI); else says how
# to install it.  Needs root to build.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ -f "$(pg_config --pkglibdir)/citus.so" ] && [ -f "$(pg_config --sharedir)/extension/citus.control" ]; then
	exit 0
fi
if [ -x "$repo/../shared/citus/build.sh" ]; then
	exec "$repo/../shared/citus/build.sh"
fi
cat >&2 <<MSG
Citus is not installed for $(pg_config --version) ($(pg_config --pkglibdir)/citus.so is missing).
Install it from Citus's own packages (https://docs.citusdata.com/en/stable/installation/),
e.g. postgresql-$(pg_config --version | sed 's/[^0-9]*\([0-9]*\).*/\1/')-citus-13.2 from packagecloud.io/citusdata/community,
or build it from source, then run this again.
MSG
exit 1
