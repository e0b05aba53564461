# tools/stats.mk: it-stats (statistics, quality, figures) and its tests.
bin_PROGRAMS += it-stats
it_stats_SOURCES = tools/it-stats.c tools/stats.h tools/stats_collect.c tools/stats_quality.c \
	tools/stats_report.c tools/stats_plot.h tools/stats_plot.c
it_stats_CPPFLAGS = $(IT_USE_CPPFLAGS)
it_stats_LDADD = tools/libtoolcommon.la $(IT_USE_LIBS)
dist_man_MANS += man/it-stats.1
TESTS += tests/cli/test_stats.sh
EXTRA_DIST += tests/cli/test_stats.sh
