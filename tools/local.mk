# tools/: one thin main per tool over the public library (TOOL_LIBS: the installed libinfotok
# and the shared option groups), each with its man page.
noinst_LTLIBRARIES += tools/libtoolcommon.la
tools_libtoolcommon_la_SOURCES = tools/common.c tools/common.h

bin_PROGRAMS += it-scan it-encode it-convert it-pack it-decode it-stats
it_scan_SOURCES = tools/it-scan.c
it_scan_LDADD = $(TOOL_LIBS)
it_encode_SOURCES = tools/it-encode.c
it_encode_LDADD = $(TOOL_LIBS)
it_convert_SOURCES = tools/it-convert.c
it_convert_LDADD = $(TOOL_LIBS)
it_pack_SOURCES = tools/it-pack.c tools/pack.h tools/pack_create.c tools/pack_inspect.c tools/pack_export.c \
	tools/pack_import.c
it_pack_LDADD = $(TOOL_LIBS)
it_decode_SOURCES = tools/it-decode.c
it_decode_LDADD = $(TOOL_LIBS)
it_stats_SOURCES = tools/it-stats.c tools/stats.h tools/stats_collect.c tools/stats_quality.c \
	tools/stats_report.c tools/stats_plot.h tools/stats_plot.c
it_stats_LDADD = $(TOOL_LIBS)
