/* version.c: the library's version and those of the libraries it was built with. */
#include <stdio.h>

#include <archive.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswscale/swscale.h>
#include <lmdb.h>
#include <zstd.h>

#include "config.h"
#include "infotok/core.h"

const char *it_version(void) { return PACKAGE_VERSION; }

static void append_av(char *buf, size_t size, size_t *len, const char *name, unsigned v)
{
    int n = snprintf(buf + *len, size - *len, "%s%s %u.%u.%u", *len ? ", " : "", name,
                     v >> 16, (v >> 8) & 0xff, v & 0xff);
    if (n > 0 && (size_t)n < size - *len)
        *len += (size_t)n;
}

const char *it_version_long(void)
{
    static _Thread_local char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    /* Runtime versions: what is actually loaded, which can differ from the headers. */
    append_av(buf, sizeof buf, &len, "libavformat", avformat_version());
    append_av(buf, sizeof buf, &len, "libavcodec", avcodec_version());
    append_av(buf, sizeof buf, &len, "libavutil", avutil_version());
    append_av(buf, sizeof buf, &len, "libswscale", swscale_version());
    snprintf(buf + len, sizeof buf - len, "; zstd %s; %s; %s; jansson %s",
             ZSTD_versionString(), mdb_version(NULL, NULL, NULL), archive_version_string(),
             jansson_version_str());
    return buf;
}
