/* shard_common.c: byte order, file names, the file trailer and the allocation entry that the
 * shard writer and reader share. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <jansson.h>

#include "error_internal.h"
#include "formats/shard_internal.h"
#include "infotok/rate.h"

const char *const shard_dbi_names[SHARD_NDBI] = {"meta", "video", "window", "id"};

void shard_put_be32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (24 - 8 * i)); }
void shard_put_be64(unsigned char *p, uint64_t v) { shard_put_be32(p, (uint32_t)(v >> 32)); shard_put_be32(p + 4, (uint32_t)v); }
void shard_put_le32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
uint32_t shard_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
uint64_t shard_get_be64(const unsigned char *p) { return (uint64_t)shard_get_be32(p) << 32 | shard_get_be32(p + 4); }
uint32_t shard_get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

char *shard_path_with(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (s) {
        memcpy(s, path, a);
        memcpy(s + a, suffix, b + 1);
    }
    return s;
}

static int crc_of(int fd, const char *name, uint64_t len, uint32_t *crc)
{
    static const size_t chunk = 1 << 20;
    unsigned char *buf = malloc(chunk);
    if (!buf)
        return it_error_set(IT_E_NOMEM, "%s: out of memory", name);
    uint32_t c = 0;
    uint64_t off = 0;
    while (off < len) {
        size_t want = len - off < chunk ? (size_t)(len - off) : chunk;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0) {
            free(buf);
            return it_error_set(n == 0 ? IT_E_TRUNCATED : IT_E_IO, "%s: read failed at byte %" PRIu64 ": %s",
                                name, off, n == 0 ? "end of file" : strerror(errno));
        }
        c = it_crc32(c, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    *crc = c;
    return 0;
}

int shard_append_trailer(int fd, const char *name)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        return it_error_set(IT_E_IO, "%s: seek: %s", name, strerror(errno));
    uint32_t crc;
    int rc = crc_of(fd, name, (uint64_t)end, &crc);
    if (rc < 0)
        return rc;
    unsigned char t[SHARD_TRAILER_BYTES] = {0};
    memcpy(t, SHARD_TRAILER_MAGIC, 8);
    shard_put_be64(t + 8, (uint64_t)end);
    shard_put_be32(t + 16, crc);
    shard_put_be32(t + 20, 1);
    /* then the CRC-32 of the trailer's first 24 bytes, so the trailer vouches for itself, and 4
     * zero bytes */
    shard_put_be32(t + 24, it_crc32(0, t, 24));
    if (pwrite(fd, t, sizeof t, end) != (ssize_t)sizeof t)
        return it_error_set(IT_E_IO, "%s: cannot write the trailer: %s", name, strerror(errno));
    return 0;
}

int shard_check_trailer(int fd, const char *name, uint64_t size, int check_crc, uint64_t *data_len)
{
    unsigned char t[SHARD_TRAILER_BYTES];
    if (size < SHARD_TRAILER_BYTES || pread(fd, t, sizeof t, (off_t)(size - sizeof t)) != (ssize_t)sizeof t ||
        memcmp(t, SHARD_TRAILER_MAGIC, 8) != 0)
        return it_error_set(IT_E_TRUNCATED, "%s: no shard trailer at the end: an incomplete or truncated "
                            "shard, or not a shard", name);
    if (shard_get_be32(t + 24) != it_crc32(0, t, 24) || shard_get_be32(t + 28) != 0)
        return it_error_set(IT_E_CHECKSUM, "%s: the shard trailer is damaged", name);
    if (shard_get_be32(t + 20) != 1)
        return it_error_set(IT_E_UNSUPPORTED, "%s: trailer version %" PRIu32 " is not supported", name,
                            shard_get_be32(t + 20));
    const uint64_t len = shard_get_be64(t + 8);
    if (len + SHARD_TRAILER_BYTES != size)
        return it_error_set(IT_E_TRUNCATED, "%s: the trailer says %" PRIu64 " data bytes, the file has %" PRIu64
                            " (truncated or appended to)", name, len, size - SHARD_TRAILER_BYTES);
    if (check_crc) {
        uint32_t crc;
        int rc = crc_of(fd, name, len, &crc);
        if (rc < 0)
            return rc;
        if (crc != shard_get_be32(t + 16))
            return it_error_set(IT_E_CHECKSUM, "%s: file CRC-32 mismatch: the shard is damaged", name);
    }
    *data_len = len;
    return 0;
}

void shard_fsync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
    free(dir);
}

char *shard_alloc_json(const it_alloc_rec *a)
{
    char sum[32];
    snprintf(sum, sizeof sum, "%" PRId64, a->elbo_sum_fixed);
    json_t *o = json_pack("{s:s, s:f, s:{s:I, s:s}}", "strategy", it_strategy_name(a->strategy), "avg_rate",
                          (double)a->avg_rate, "elbo", "count", (json_int_t)a->elbo_count, "sum_fixed", sum);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    return s;
}

int shard_alloc_parse(const char *json, const char *where, it_alloc_rec *a)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *strategy = NULL, *sum = NULL;
    double rate = 0;
    json_int_t count = -1;
    int rc = 0, s = 0;
    char *end = NULL;
    if (!o || json_unpack(o, "{s:s, s:F, s:{s:I, s:s}}", "strategy", &strategy, "avg_rate", &rate, "elbo",
                          "count", &count, "sum_fixed", &sum) != 0 ||
        it_strategy_parse(strategy, &s) < 0 || count < 0 || !(rate > 0 && rate <= 1)) {
        rc = it_error_set(IT_E_FORMAT, "%s: malformed allocation entry", where);
        goto done;
    }
    errno = 0;
    long long v = strtoll(sum, &end, 10);
    if (errno || end == sum || *end) {
        rc = it_error_set(IT_E_FORMAT, "%s: allocation sum_fixed \"%s\" is not an integer", where, sum);
        goto done;
    }
    a->strategy = (uint8_t)s;
    a->avg_rate = (float)rate;
    a->elbo_count = (uint64_t)count;
    a->elbo_sum_fixed = v;
done:
    json_decref(o);
    return rc;
}
