# tools/: one thin main per tool over the library, plus the shared option helpers.
noinst_LTLIBRARIES += tools/libtoolcommon.la
tools_libtoolcommon_la_SOURCES = tools/common.c tools/common.h
tools_libtoolcommon_la_CPPFLAGS = $(IT_USE_CPPFLAGS)

bin_PROGRAMS += it-scan
it_scan_SOURCES = tools/it-scan.c
it_scan_CPPFLAGS = $(IT_USE_CPPFLAGS)
it_scan_LDADD = tools/libtoolcommon.la $(IT_USE_LIBS)

bin_PROGRAMS += it-encode
it_encode_SOURCES = tools/it-encode.c
it_encode_CPPFLAGS = $(IT_USE_CPPFLAGS)
it_encode_LDADD = tools/libtoolcommon.la $(IT_USE_LIBS)
