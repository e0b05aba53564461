# src/: libinfotok's core (errors, logging, video input, windows, manifest).
libinfotok_la_SOURCES += \
	src/infotok.h src/error_internal.h \
	src/error.c src/log.c src/version.c \
	src/archive_internal.h src/archive_io.c \
	src/media_internal.h src/media.c src/video.c src/probe.c \
	src/window.c src/manifest.c \
	src/arena_internal.h src/arena.c src/model.h src/model_internal.h \
	src/model_load.c src/net_cnn.c src/net_vit.c src/model.c src/pixels.c src/blend.c \
	src/rate.h src/rate.c src/encode.h src/encode.c src/hash.c
libinfotok_la_SOURCES += src/paths.c
libinfotok_la_CPPFLAGS += -DIT_PKGDATADIR='"$(pkgdatadir)"' -DIT_SRC_MODELDIR='"$(abs_top_srcdir)/models"'
