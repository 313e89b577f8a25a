# nilus: the PostgreSQL extension (PGXS) and the nilus-manager HTTP shim.
#   make demo             build, install, start a throw-away cluster with sample data and the shim
#   make test             install what the tests need, build, install, run every test
#   make fuzz             run the fuzz targets (FUZZ_SECONDS=N each, default 30)
#   make check-citus      the same suites on a throw-away Citus cluster (test/citus/run.sh)
#   make check-faults     the fault suite (database stops, SIGKILL, held locks, floods)
#   make dist             nilus-<version>.zip for PGXN (git archive of HEAD)
#   make check-packages   build the Debian packages, install them, test them
#   make install WITH_SHIM=no   the extension only (the Debian package does so)
EXTENSION_SOURCES = $(wildcard extension/*.c)
MODULE_big = nilus
OBJS = $(EXTENSION_SOURCES:.c=.o)
DATA = extension/nilus.control $(wildcard sql/nilus--*.sql)
MODULEDIR = extension
# make installcheck: pg_regress against a running server (test/regress/);
# the pgTAP suite (test/sql/) runs in make test.
REGRESS = create_extension runs stats cdc tokens errors
REGRESS_OPTS = --inputdir=test/regress --outputdir=test/regress
# The version is the control file's: one number for the library, the SQL and the shim.
NILUS_VERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" extension/nilus.control)
# Where `make install` puts nilus-manager (shim/Makefile's PREFIX): the
# database-native API runs it from there unless nilus.http_program says otherwise.
NILUS_MANAGER_PATH ?= $(or $(PREFIX),/usr/local)/bin/nilus-manager
PG_CPPFLAGS = -I$(srcdir)/extension -I$(srcdir)/include -DNILUS_VERSION='"$(NILUS_VERSION)"' \
	-DNILUS_MANAGER_PATH='"$(NILUS_MANAGER_PATH)"'

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifeq ($(wildcard $(PGXS)),)
# A fresh machine: nothing to build with yet.  Install the packages, start over.
all install test demo check-citus check-faults:
	scripts/install-deps.sh
	$(MAKE) $@
else
include $(PGXS)

$(OBJS): $(wildcard extension/*.h include/*.h)

.PHONY: deps shim shim-install test demo fuzz check-citus check-faults

ifneq ($(WITH_SHIM),no)
all: shim
install: shim-install
clean: shim-clean
endif

deps:
	scripts/install-deps.sh

shim:
	$(MAKE) -C shim

shim-install: shim
	$(MAKE) -C shim install

test: deps
	$(MAKE) all
	$(MAKE) install
	test/run.sh

# make fuzz FUZZ_SECONDS=600: the fuzz targets for longer than make test does.
fuzz: deps
	$(MAKE) -C shim fuzz

check-citus: deps
	$(MAKE) all
	$(MAKE) install
	test/citus/run.sh

check-faults: deps
	$(MAKE) all
	$(MAKE) install
	test/faults/run.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	scripts/demo.sh

shim-clean:
	$(MAKE) -C shim clean
endif

.PHONY: dist check-packages

# PGXN's upload: the committed tree, under nilus-<version>/.
dist:
	git archive --format zip --prefix nilus-$(NILUS_VERSION)/ -o nilus-$(NILUS_VERSION).zip HEAD
	@echo "wrote nilus-$(NILUS_VERSION).zip"

check-packages:
	NILUS_PACKAGE_DEPS=1 scripts/install-deps.sh
	test/packages.sh
