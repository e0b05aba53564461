# tools/pack.mk: it-pack (token shards) and its tests.
bin_PROGRAMS += it-pack
it_pack_SOURCES = tools/it-pack.c tools/pack.h tools/pack_create.c tools/pack_inspect.c tools/pack_export.c
it_pack_CPPFLAGS = $(IT_USE_CPPFLAGS)
it_pack_LDADD = tools/libtoolcommon.la $(IT_USE_LIBS)
dist_man_MANS += man/it-pack.1

TESTS += tests/pack/test_pack.sh tests/pack/test_pack_kill.sh
EXTRA_DIST += tests/pack/test_pack.sh tests/pack/test_pack_kill.sh tests/pack/read_megatron.py examples/read_shard.py
EXTRA_DIST += tests/pack/fuzz_shard_record.c tests/pack/fuzz.sh

# Fuzzing the shard record decoder (clang + libFuzzer; never part of make check):
#   make fuzz-shard [FUZZ_SECONDS=60]
fuzz-shard:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(top_srcdir)/tests/pack/fuzz.sh $(top_srcdir) fuzz-shard.work
.PHONY: fuzz-shard

check_PROGRAMS += tests/pack/test_shard
tests_pack_test_shard_SOURCES = tests/pack/test_shard.c
tests_pack_test_shard_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_pack_test_shard_LDADD = $(IT_USE_LIBS)
TESTS += tests/pack/test_shard
