# src/: libinfotok's core: errors and logging, video input, windows, manifests, the network
# on a backend, rate allocation, encoding and decoding, video output, quality. The public
# headers are include/infotok/ (installed); *_internal.h are private.
libinfotok_impl_la_SOURCES += \
	src/error_internal.h src/error.c src/log.c src/version.c src/hash.c src/paths.c \
	src/archive_internal.h src/archive_io.c \
	src/media_internal.h src/media.c src/video.c src/probe.c \
	src/window.c src/manifest.c src/pixels.c src/blend.c \
	src/arena_internal.h src/arena.c src/model_internal.h \
	src/model_load.c src/net_cnn.c src/net_vit.c src/model.c \
	src/rate.c src/encode.c src/decode.c src/decode_records.c src/video_write.c src/quality.c
# Where the bundled model is: installed, or (from the build tree only) the source tree.
libinfotok_impl_la_CPPFLAGS = $(AM_CPPFLAGS) -DIT_PKGDATADIR='"$(pkgdatadir)"' -DIT_PKGLIBDIR='"$(pkglibdir)"' \
	-DIT_SRC_MODELDIR='"$(abs_top_srcdir)/models"' -DIT_BUILDDIR='"$(abs_top_builddir)"'

infotokinclude_HEADERS += \
	include/infotok/infotok.h include/infotok/core.h include/infotok/stream.h \
	include/infotok/records.h include/infotok/shard.h include/infotok/weights.h \
	include/infotok/rate.h include/infotok/model.h include/infotok/encode.h \
	include/infotok/decode.h include/infotok/video_write.h include/infotok/quality.h
