/* archive_internal.h: a tar/zip member as a seekable FFmpeg byte stream, read through
 * libarchive without extracting anything to disk. Not part of the public interface. */
#ifndef IT_ARCHIVE_INTERNAL_H
#define IT_ARCHIVE_INTERNAL_H

#include <stdint.h>

#include <libavformat/avio.h>

typedef struct it_member_stream it_member_stream;

/* Open member `member` of archive `path`; *avio reads it (owned by the stream). */
int it_member_stream_open(it_member_stream **out, const char *path, const char *member,
                          AVIOContext **avio);
int64_t it_member_stream_size(const it_member_stream *s); /* <0 if the archive does not say */
void it_member_stream_close(it_member_stream **s);

#endif
