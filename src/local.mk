# src/: libinfotok's core (errors, logging, video input, windows, manifest).
libinfotok_la_SOURCES += \
	src/infotok.h src/error_internal.h \
	src/error.c src/log.c src/version.c
