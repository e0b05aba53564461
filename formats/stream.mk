# formats/stream.mk: the token stream (formats/tokstream.h, infotok-stream(5)) and the CRC-32
# the formats share. Its tests live in tests/stream and are listed here.
libinfotok_la_SOURCES += formats/tokstream.h formats/tokstream.c formats/stream_header.c formats/crc32.c

dist_man_MANS += man/infotok-stream.5

check_PROGRAMS += tests/stream/test_stream
tests_stream_test_stream_SOURCES = tests/stream/test_stream.c
tests_stream_test_stream_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_stream_test_stream_LDADD = $(IT_USE_LIBS)
TESTS += tests/stream/test_stream

EXTRA_DIST += tests/stream/golden.itok tests/stream/fuzz_stream.c tests/stream/fuzz.sh

# Fuzzing is never part of `make check` (clang with libFuzzer, minutes of CPU):
#   make fuzz-stream [FUZZ_SECONDS=60]
fuzz-stream:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(top_srcdir)/tests/stream/fuzz.sh $(top_srcdir) fuzz-stream.work
.PHONY: fuzz-stream
