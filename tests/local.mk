# tests/: unit, ops, model, cli and data tests under the Automake parallel harness.
# Shell tests read top_srcdir/top_builddir from AM_TESTS_ENVIRONMENT (Makefile.am).

check_PROGRAMS += tests/helpers/dump_frames tests/helpers/dump_stream tests/unit/test_window tests/unit/test_rate tests/unit/test_blend
tests_helpers_dump_frames_SOURCES = tests/helpers/dump_frames.c
tests_helpers_dump_frames_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_helpers_dump_frames_LDADD = $(IT_USE_LIBS)
tests_helpers_dump_stream_SOURCES = tests/helpers/dump_stream.c
tests_helpers_dump_stream_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_helpers_dump_stream_LDADD = $(IT_USE_LIBS)
tests_unit_test_window_SOURCES = tests/unit/test_window.c
tests_unit_test_window_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_unit_test_window_LDADD = $(IT_USE_LIBS)
tests_unit_test_blend_SOURCES = tests/unit/test_blend.c
tests_unit_test_blend_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_unit_test_blend_LDADD = $(IT_USE_LIBS)
tests_unit_test_rate_SOURCES = tests/unit/test_rate.c
tests_unit_test_rate_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_unit_test_rate_LDADD = $(IT_USE_LIBS)

TESTS += tests/unit/test_window tests/unit/test_rate tests/unit/test_blend \
	tests/cli/test_video.sh tests/cli/test_windows.sh tests/cli/test_scan.sh \
	tests/cli/test_manpages.sh tests/cli/test_encode.sh

EXTRA_DIST += tests/cli/lib.sh tests/cli/test_video.sh tests/cli/test_windows.sh \
	tests/cli/test_scan.sh tests/cli/test_manpages.sh tests/cli/test_encode.sh tests/cli/expected tests/data/make-videos.sh

# The generated corpus (tests/data/make-videos.sh), made once before the tests run.
check_DATA = tests/data/gen/.stamp
tests/data/gen/.stamp: $(top_srcdir)/tests/data/make-videos.sh
	$(AM_V_GEN)if test -z '$(FFMPEG)'; then \
	  echo "ffmpeg CLI not found: tests that need generated videos will skip"; mkdir -p tests/data/gen; \
	else FFMPEG='$(FFMPEG)' $(SHELL) $(top_srcdir)/tests/data/make-videos.sh tests/data/gen; fi && touch $@
clean-local: clean-local-testdata
clean-local-testdata:
	rm -rf tests/data/gen tests/data/gen.tmp
.PHONY: clean-local-testdata

# The network against the PyTorch reference's committed fixtures (tests/model/).
check_PROGRAMS += tests/model/test_model
tests_model_test_model_SOURCES = tests/model/test_model.c
tests_model_test_model_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_model_test_model_LDADD = $(IT_USE_LIBS)
TESTS += tests/model/test_model
TESTS += tests/model/test_official.sh
EXTRA_DIST += tests/model/test_official.sh tests/model/official_io.py

# Benchmarks (built by `make bench`, never run by make check): tests/bench/.
EXTRA_PROGRAMS = tests/bench/bench_model tests/bench/bench_shard
tests_bench_bench_shard_SOURCES = tests/bench/bench_shard.c
tests_bench_bench_shard_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_bench_bench_shard_LDADD = $(IT_USE_LIBS)
tests_bench_bench_model_SOURCES = tests/bench/bench_model.c
tests_bench_bench_model_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_bench_bench_model_LDADD = $(IT_USE_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
bench: $(EXTRA_PROGRAMS)
.PHONY: bench
EXTRA_DIST += tests/bench/scan-vs-ffprobe.sh tests/bench/RESULTS.md
EXTRA_DIST += tests/bench/bench_torch.py tests/bench/engine-vs-torch.sh tests/bench/shard-layout.py tests/bench/shard.sh

# examples/: run as documented (tests/cli/test_examples.sh).
check_PROGRAMS += examples/read_stream
examples_read_stream_SOURCES = examples/read_stream.c
examples_read_stream_CPPFLAGS = $(IT_USE_CPPFLAGS)
examples_read_stream_LDADD = $(IT_USE_LIBS)
TESTS += tests/cli/test_examples.sh
EXTRA_DIST += tests/cli/test_examples.sh examples/pipeline.sh examples/read_stream.py
