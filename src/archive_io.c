/* archive_io.c: tar/zip members as FFmpeg byte streams (libarchive), and member listing.
 *
 * libarchive reads forward only. Forward seeks read and discard; backward seeks reopen the
 * archive and skip to the member again. Containers that seek backwards (an mp4 whose index
 * is at the end) therefore work, at the cost of re-reading. Nothing touches the disk. */
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <libavformat/avformat.h>
#include <libavutil/mem.h>

#include "archive_internal.h"
#include "error_internal.h"

enum { AVIO_BUFFER = 1 << 16, SKIP_CHUNK = 1 << 16 };

struct it_member_stream {
    char *path, *member;
    struct archive *ar;
    int64_t pos;  /* bytes of the member consumed so far */
    int64_t size; /* from the header; <0 if unknown */
    AVIOContext *avio;
};

static struct archive *archive_open_reader(const char *path)
{
    struct archive *ar = archive_read_new();
    if (!ar)
        return NULL;
    archive_read_support_filter_all(ar);
    archive_read_support_format_tar(ar);
    archive_read_support_format_gnutar(ar);
    archive_read_support_format_zip(ar);
    if (archive_read_open_filename(ar, path, 1 << 16) != ARCHIVE_OK) {
        it_error_set(IT_E_IO, "%s: cannot open archive: %s", path, archive_error_string(ar));
        archive_read_free(ar);
        return NULL;
    }
    return ar;
}

/* (Re)open the archive and position it at the start of the member's data. */
static int position_at_member(it_member_stream *s)
{
    int rc = 0;
    if (s->ar)
        archive_read_free(s->ar);
    s->ar = archive_open_reader(s->path);
    s->pos = 0;
    if (!s->ar)
        return IT_E_IO;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(s->ar, &e);
        if (r == ARCHIVE_EOF)
            IT_FAIL(IT_E_NOTFOUND, "%s: no member '%s' in the archive", s->path, s->member);
        if (r < ARCHIVE_WARN)
            IT_FAIL(IT_E_FORMAT, "%s: damaged archive: %s", s->path, archive_error_string(s->ar));
        const char *name = archive_entry_pathname(e);
        if (name && strcmp(name, s->member) == 0) {
            s->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
            return 0;
        }
    }
done:
    return rc;
}

static int member_read(void *opaque, uint8_t *buf, int size)
{
    it_member_stream *s = opaque;
    la_ssize_t n = archive_read_data(s->ar, buf, (size_t)size);
    if (n < 0)
        return AVERROR(EIO);
    if (n == 0)
        return AVERROR_EOF;
    s->pos += n;
    return (int)n;
}

static int skip_forward(it_member_stream *s, int64_t target)
{
    static _Thread_local uint8_t scratch[SKIP_CHUNK];
    while (s->pos < target) {
        int64_t want = target - s->pos;
        la_ssize_t n = archive_read_data(s->ar, scratch, want < SKIP_CHUNK ? (size_t)want : SKIP_CHUNK);
        if (n <= 0)
            return -1; /* past the end or a read error */
        s->pos += n;
    }
    return 0;
}

static int64_t member_seek(void *opaque, int64_t offset, int whence)
{
    it_member_stream *s = opaque;
    int64_t target;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return s->size >= 0 ? s->size : AVERROR(ENOSYS);
    case SEEK_SET: target = offset; break;
    case SEEK_CUR: target = s->pos + offset; break;
    case SEEK_END:
        if (s->size < 0)
            return AVERROR(ENOSYS);
        target = s->size + offset;
        break;
    default: return AVERROR(EINVAL);
    }
    if (target < 0 || (s->size >= 0 && target > s->size))
        return AVERROR(EINVAL);
    if (target < s->pos && position_at_member(s) < 0)
        return AVERROR(EIO);
    if (skip_forward(s, target) < 0)
        return AVERROR(EIO);
    return s->pos;
}

int it_member_stream_open(it_member_stream **out, const char *path, const char *member,
                          AVIOContext **avio)
{
    int rc = 0;
    uint8_t *buf = NULL;
    it_member_stream *s = calloc(1, sizeof *s);
    IT_CHECK_ALLOC(s, "an archive stream");
    s->path = strdup(path);
    s->member = strdup(member);
    IT_CHECK_ALLOC(s->path && s->member, "an archive stream");
    IT_TRY(position_at_member(s));
    buf = av_malloc(AVIO_BUFFER);
    IT_CHECK_ALLOC(buf, "an archive stream buffer");
    s->avio = avio_alloc_context(buf, AVIO_BUFFER, 0, s, member_read, NULL, member_seek);
    IT_CHECK_ALLOC(s->avio, "an archive stream");
    buf = NULL;
    *avio = s->avio;
    *out = s;
    s = NULL;
done:
    av_free(buf);
    it_member_stream_close(&s);
    return rc;
}

int64_t it_member_stream_size(const it_member_stream *s) { return s->size; }

void it_member_stream_close(it_member_stream **ps)
{
    it_member_stream *s = *ps;
    if (!s)
        return;
    if (s->avio) {
        av_freep(&s->avio->buffer);
        avio_context_free(&s->avio);
    }
    if (s->ar)
        archive_read_free(s->ar);
    free(s->path);
    free(s->member);
    free(s);
    *ps = NULL;
}

int it_archive_list(const char *path, it_member_cb cb, void *user)
{
    int rc = 0;
    struct archive *ar = archive_open_reader(path);
    if (!ar)
        return IT_E_IO;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(ar, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            IT_FAIL(IT_E_FORMAT, "%s: damaged archive: %s", path, archive_error_string(ar));
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        const char *name = archive_entry_pathname(e);
        if (!name)
            continue;
        int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        IT_TRY(cb(user, name, size));
    }
done:
    archive_read_free(ar);
    return rc;
}

int it_is_archive_path(const char *path)
{
    static const char *const suffixes[] = {".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz",
                                           ".tar.zst", ".zip", NULL};
    size_t n = strlen(path);
    for (int i = 0; suffixes[i]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcasecmp(path + n - k, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}
