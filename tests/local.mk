# tests/: unit, ops, model, format, cli and data tests under the Automake parallel harness.
# C tests link the whole library statically (LDADD, Makefile.am); shell tests read
# top_srcdir/top_builddir from AM_TESTS_ENVIRONMENT.

# ---- C tests ----
C_TESTS = \
	tests/unit/test_window tests/unit/test_rate tests/unit/test_blend tests/unit/test_quality \
	tests/ops/test_ops tests/ops/test_ref \
	tests/formats/test_config tests/formats/test_table tests/formats/test_safetensors \
	tests/formats/test_pickle tests/formats/test_pt tests/formats/test_load \
	tests/stream/test_stream tests/pack/test_shard tests/model/test_model
check_PROGRAMS += $(C_TESTS) tests/unit/test_decode tests/helpers/dump_frames tests/helpers/dump_stream
TESTS += $(C_TESTS)
tests_ops_test_ops_SOURCES = tests/ops/test_ops.c tests/ops/ops_util.h
tests_ops_test_ref_SOURCES = tests/ops/test_ref.c tests/ops/ops_util.h
# The cuda backend's kernels and op layer on the CPU through the execution shim, held to
# test_ops's tolerances against ref (kernels/cuda/shim/cuda_shim.h; needs only g++).
if HAVE_CXX
check_PROGRAMS += tests/ops/test_cuda_ops tests/ops/test_cuda_shim
TESTS += tests/ops/test_cuda_ops tests/ops/test_cuda_shim
tests_ops_test_cuda_shim_SOURCES = tests/ops/test_cuda_shim.cc
tests_ops_test_cuda_shim_LDADD =
tests_ops_test_cuda_shim_CXXFLAGS = -std=gnu++17 -Wall -Wextra -ffp-contract=off $(SAN_CFLAGS)
tests_ops_test_cuda_ops_SOURCES = tests/ops/test_ops.c tests/ops/ops_util.h tests/ops/cuda_shim_backend.cc
tests_ops_test_cuda_ops_CPPFLAGS = $(AM_CPPFLAGS) -DIT_TEST_CAND=it_backend_cuda_shim
# no FMA contraction in the shim's host code: the kernels' _rn intrinsics become plain operators
tests_ops_test_cuda_ops_CXXFLAGS = -std=gnu++17 -Wall -Wextra -Wno-unused-parameter -ffp-contract=off \
	$(SAN_CFLAGS) $(OPENMP_CFLAGS)
EXTRA_DIST += tests/ops/cuda_shim_backend.cc
endif
# tests/gpu/: programs of tests/gpu/check.sh (run by hand where a GPU is, never by make check).
# They link the library statically and export its it_* symbols (--export-dynamic) so that the
# dlopen'ed cuda module resolves them; test_model does too, for check.sh's whole-network run.
if HAVE_CUDA
noinst_PROGRAMS += tests/gpu/gpu_ops tests/gpu/bench_gpu tests/gpu/clip_gpu
tests_gpu_clip_gpu_SOURCES = tests/gpu/clip_gpu.c
tests_gpu_clip_gpu_LDFLAGS = $(AM_LDFLAGS) -Wl,--export-dynamic
tests_gpu_gpu_ops_SOURCES = tests/ops/test_ops.c tests/ops/ops_util.h tests/gpu/cuda_cand.c
tests_gpu_gpu_ops_CPPFLAGS = $(AM_CPPFLAGS) -DIT_TEST_CAND=it_test_cuda
tests_gpu_gpu_ops_LDFLAGS = $(AM_LDFLAGS) -Wl,--export-dynamic
tests_gpu_bench_gpu_SOURCES = tests/gpu/bench_gpu.c
tests_gpu_bench_gpu_LDFLAGS = $(AM_LDFLAGS) -Wl,--export-dynamic
endif
tests_model_test_model_LDFLAGS = $(AM_LDFLAGS) -Wl,--export-dynamic
EXTRA_DIST += tests/gpu/README.md tests/gpu/check.sh tests/gpu/prepare.sh tests/gpu/cuda_cand.c \
	tests/gpu/bench_gpu.c tests/gpu/bench_torch_gpu.py tests/gpu/clip_gpu.c
tests_formats_test_config_SOURCES = tests/formats/test_config.c tests/formats/test_util.h
tests_formats_test_table_SOURCES = tests/formats/test_table.c tests/formats/test_util.h
tests_formats_test_safetensors_SOURCES = tests/formats/test_safetensors.c tests/formats/test_util.h
tests_formats_test_pickle_SOURCES = tests/formats/test_pickle.c tests/formats/test_util.h
tests_formats_test_pt_SOURCES = tests/formats/test_pt.c tests/formats/test_util.h
tests_formats_test_load_SOURCES = tests/formats/test_load.c tests/formats/test_util.h

# ---- shell tests (tools, pipelines, formats against independent readers) ----
SHELL_TESTS = \
	tests/cli/test_video.sh tests/cli/test_windows.sh tests/cli/test_scan.sh tests/cli/test_manpages.sh \
	tests/cli/test_encode.sh tests/cli/test_decode.sh tests/cli/test_stats.sh tests/cli/test_balance.sh \
	tests/cli/test_allocation.sh tests/cli/test_slurm.sh tests/cli/test_examples.sh tests/cli/test_public_api.sh \
	tests/cli/test_export.sh tests/cli/test_slim.sh tests/cli/test_progress.sh \
	tests/unit/test_decode.sh tests/unit/test_quality.sh tests/formats/test_convert.sh \
	tests/pack/test_pack.sh tests/pack/test_pack_kill.sh tests/model/test_official.sh \
	tests/python/test_python.sh tests/train/test_posttrain.sh
TESTS += $(SHELL_TESTS)
EXTRA_DIST += $(SHELL_TESTS) tests/cli/lib.sh tests/cli/expected tests/data/make-videos.sh \
	tests/formats/infotok_state_dict_keys.txt tests/formats/tiny_table.txt tests/formats/tiny_config.json \
	tests/formats/make_pt_fixtures.py tests/formats/fuzz_weights.c tests/formats/fuzz.sh tests/formats/fixtures \
	tests/stream/golden.itok tests/stream/fuzz_stream.c tests/stream/fuzz.sh \
	tests/pack/read_megatron.py tests/pack/fuzz_shard_record.c tests/pack/fuzz.sh \
	tests/model/README.md tests/model/infotok_ref.py tests/model/safetensors_io.py tests/model/official_io.py \
	tests/model/make_fixtures.py tests/model/make_official_pt.py tests/model/make_small2_fixture.py \
	tests/model/verify_official.py tests/model/verify_official.txt tests/model/fixtures \
	train examples/slurm examples/parallel examples/pipeline.sh examples/tokenize_one.c examples/read_stream.py examples/read_shard.py \
	python/pyproject.toml python/README.md python/infotok python/tests

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

# examples/: an outside program's view of the library: it links the installed libinfotok only.
check_PROGRAMS += examples/read_stream
examples_read_stream_SOURCES = examples/read_stream.c
examples_read_stream_LDADD = libinfotok.la $(DEP_LIBS)

# Benchmarks (built by `make bench`, never run by make check): tests/bench/.
EXTRA_PROGRAMS = tests/bench/bench_model tests/bench/bench_shard tests/bench/agree_model
tests_bench_agree_model_SOURCES = tests/bench/agree_model.c
tests_bench_bench_shard_SOURCES = tests/bench/bench_shard.c
tests_bench_bench_model_SOURCES = tests/bench/bench_model.c
CLEANFILES += $(EXTRA_PROGRAMS)
bench: $(EXTRA_PROGRAMS)
.PHONY: bench
EXTRA_DIST += tests/bench/RESULTS.md tests/bench/scan-vs-ffprobe.sh tests/bench/bench_torch.py \
	tests/bench/engine-vs-torch.sh tests/bench/shard-layout.py tests/bench/shard.sh \
	tests/bench/precision.sh
