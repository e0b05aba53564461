# src/quality.mk: PSNR and SSIM of RGB frames (src/quality.h) and their tests.
libinfotok_la_SOURCES += src/quality.h src/quality.c
check_PROGRAMS += tests/unit/test_quality
tests_unit_test_quality_SOURCES = tests/unit/test_quality.c
tests_unit_test_quality_CPPFLAGS = $(IT_USE_CPPFLAGS)
tests_unit_test_quality_LDADD = $(IT_USE_LIBS)
TESTS += tests/unit/test_quality
# ...and against ffmpeg's psnr/ssim filters on a lossy pair (test_quality's comparison mode)
TESTS += tests/unit/test_quality.sh
EXTRA_DIST += tests/unit/test_quality.sh
