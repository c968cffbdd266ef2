# counterfield: exact relation counters kept by C triggers
EXTENSION = counterfield

MODULE_big = counterfield
OBJS = \
	src/counterfield.o \
	src/api.o \
	src/catalog.o \
	src/citus.o \
	src/condition.o \
	src/truth.o \
	src/triggers.o \
	src/ddl.o \
	src/cache.o \
	src/state.o \
	src/flush.o \
	src/keylock.o \
	src/trigger.o \
	src/inflight.o \
	src/direct.o \
	src/ledger.o \
	src/worker.o \
	src/sum.o \
	src/link.o \
	src/spi.o

DATA = $(wildcard $(EXTENSION)--*.sql)

REGRESS = setup interface write_paths conditions keys exact m2m guard parents missing_parents direct deferred sums through invalid_input security privileges partitions savepoints transaction_mode invalidation flush_order pruning flush_errors ddl portable fuzz fuzz_edges lifecycle upgrade
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

EXTRA_CLEAN = output_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The release archive for PGXN: the committed tree as a zip, named after
# META.json's version, written to DISTDIR.
DISTVERSION = $(shell sed -n 's/^   "version": "\([^"]*\)".*/\1/p' META.json)
DISTDIR ?= .
.PHONY: dist
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(DISTVERSION)/ \
		-o $(DISTDIR)/$(EXTENSION)-$(DISTVERSION).zip HEAD
