# it-convert: official PyTorch checkpoint (or safetensors) -> native weight file.
bin_PROGRAMS += it-convert
it_convert_SOURCES = tools/it-convert.c
it_convert_CPPFLAGS = $(IT_USE_CPPFLAGS)
it_convert_LDADD = tools/libtoolcommon.la $(IT_USE_LIBS)
dist_man_MANS += man/it-convert.1

TESTS += tests/formats/test_convert.sh
EXTRA_DIST += tests/formats/test_convert.sh
