# tools/: one thin main per tool over the library, plus the shared option helpers.
noinst_LTLIBRARIES = tools/libtoolcommon.la
tools_libtoolcommon_la_SOURCES = tools/common.c tools/common.h
tools_libtoolcommon_la_CPPFLAGS = $(IT_USE_CPPFLAGS)
