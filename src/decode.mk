# src/decode.mk: token records back to frames (src/decode.h) and video files (src/video_write.h).
libinfotok_la_SOURCES += src/decode.h src/decode.c src/decode_records.c src/video_write.h src/video_write.c
