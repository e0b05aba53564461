# formats/: on-disk formats. Weight files: the native (safetensors-layout) format, the official
# PyTorch checkpoint reader (zip + whitelisted pickle), the model config and its tensor table.
# See man/infotok-weights.5. The weight-format tests live in tests/formats and are listed here,
# beside the code they test.
libinfotok_la_SOURCES += \
	formats/weights.h formats/weights_internal.h formats/pickle_internal.h \
	formats/dtype.c formats/weights.c formats/safetensors.c formats/config.c \
	formats/tensor_table.c formats/pickle.c formats/torch_pt.c

dist_man_MANS += man/infotok-weights.5

FORMATS_TESTS = \
	tests/formats/test_config tests/formats/test_table tests/formats/test_safetensors \
	tests/formats/test_pickle tests/formats/test_pt tests/formats/test_load
check_PROGRAMS += $(FORMATS_TESTS)
TESTS += $(FORMATS_TESTS)

tests_formats_test_config_SOURCES = tests/formats/test_config.c tests/formats/test_util.h
tests_formats_test_config_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_formats_test_config_LDADD = $(IT_USE_LIBS)
tests_formats_test_table_SOURCES = tests/formats/test_table.c tests/formats/test_util.h
tests_formats_test_table_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_formats_test_table_LDADD = $(IT_USE_LIBS)
tests_formats_test_safetensors_SOURCES = tests/formats/test_safetensors.c tests/formats/test_util.h
tests_formats_test_safetensors_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_formats_test_safetensors_LDADD = $(IT_USE_LIBS)
tests_formats_test_pickle_SOURCES = tests/formats/test_pickle.c tests/formats/test_util.h
tests_formats_test_pickle_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_formats_test_pickle_LDADD = $(IT_USE_LIBS)
tests_formats_test_pt_SOURCES = tests/formats/test_pt.c tests/formats/test_util.h
tests_formats_test_pt_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_formats_test_pt_LDADD = $(IT_USE_LIBS)
tests_formats_test_load_SOURCES = tests/formats/test_load.c tests/formats/test_util.h
tests_formats_test_load_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_formats_test_load_LDADD = $(IT_USE_LIBS)

EXTRA_DIST += \
	tests/formats/infotok_state_dict_keys.txt tests/formats/tiny_table.txt \
	tests/formats/tiny_config.json tests/formats/make_pt_fixtures.py \
	tests/formats/fuzz_weights.c tests/formats/fuzz.sh \
	tests/formats/fixtures

# Fuzzing is never part of `make check`: it needs clang with libFuzzer and runs for minutes.
#   make fuzz-weights [FUZZ_SECONDS=60]
FUZZ_SECONDS = 60
fuzz-weights:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(top_srcdir)/tests/formats/fuzz.sh $(top_srcdir) fuzz-weights.work
.PHONY: fuzz-weights
