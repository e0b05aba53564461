# tools/decode.mk: it-decode (token records back to video files) and its tests.
bin_PROGRAMS += it-decode
it_decode_SOURCES = tools/it-decode.c
it_decode_CPPFLAGS = $(IT_USE_CPPFLAGS)
it_decode_LDADD = tools/libtoolcommon.la $(IT_USE_LIBS)

check_PROGRAMS += tests/unit/test_decode
tests_unit_test_decode_SOURCES = tests/unit/test_decode.c
tests_unit_test_decode_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_unit_test_decode_LDADD = $(IT_USE_LIBS)
TESTS += tests/unit/test_decode.sh tests/cli/test_decode.sh
EXTRA_DIST += tests/unit/test_decode.sh tests/cli/test_decode.sh
dist_man_MANS += man/it-decode.1
