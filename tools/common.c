/* common.c: error printing, standard option parsing, shards and progress for the it-* tools. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "infotok.h"
#include "tools/common.h"

static const char *the_tool = "it";

void tool_init(const char *name)
{
    the_tool = name;
    /* OpenMP's default spinning waits cost 10-30x on shared or oversubscribed machines
     * (measured, kernels/BENCH.md); sleeping waits cost little on dedicated ones. A user's
     * own setting wins. Set before the first parallel region reads it. */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    it_log_set_prefix(name);
    it_log_set_level(IT_LOG_WARN);
}

const char *tool_name(void) { return the_tool; }

void print_error(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", the_tool, msg);
}

void print_lib_error(int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *detail = it_error_message();
    fprintf(stderr, "%s: %s: %s\n", the_tool, msg, detail[0] ? detail : it_strerror(code));
}

int usage_error(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", the_tool, msg, the_tool);
    return EXIT_USAGE;
}

void print_version(void)
{
    printf("%s (infotok) %s\nlibinfotok %s\n%s\n", the_tool, it_version(), it_version(),
           it_version_long());
}

int parse_int(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        print_error("invalid value '%s' for %s: expected an integer in [%ld, %ld]", s, opt, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_double(const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        print_error("invalid value '%s' for %s: expected a number in [%g, %g]", s, opt, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_shard(const char *s, tool_shard *out)
{
    long i, n;
    char *end;
    errno = 0;
    i = strtol(s, &end, 10);
    if (errno || end == s || *end != '/')
        goto bad;
    const char *ns = end + 1;
    n = strtol(ns, &end, 10);
    if (errno || end == ns || *end || n < 1 || i < 0 || i >= n)
        goto bad;
    out->index = i;
    out->count = n;
    return 0;
bad:
    print_error("invalid value '%s' for --shard: expected I/N with 0 <= I < N", s);
    return -1;
}

void shard_range(const tool_shard *sh, int64_t n, int64_t *begin, int64_t *end)
{
    /* Contiguous slices keep each shard's output sorted, so concatenating them in index
     * order gives the unsharded output. */
    *begin = n * sh->index / sh->count;
    *end = n * (sh->index + 1) / sh->count;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_start(tool_progress *p, int64_t total, const char *unit, int quiet)
{
    memset(p, 0, sizeof *p);
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->total = total;
    p->unit = unit;
    p->start = now_seconds();
}

static void progress_draw(tool_progress *p, double t)
{
    double elapsed = t - p->start;
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    if (p->total > 0) {
        int width = 30, filled = (int)(width * p->done / p->total);
        char bar[64];
        for (int k = 0; k < width; k++)
            bar[k] = k < filled ? '#' : '.';
        bar[width] = '\0';
        double eta = rate > 0 ? (p->total - p->done) / rate : 0;
        fprintf(stderr, "\r%s: [%s] %lld/%lld %s  %.1f/s  ETA %02d:%02d ", the_tool, bar,
                (long long)p->done, (long long)p->total, p->unit, rate, (int)(eta / 60),
                (int)fmod(eta, 60));
    } else {
        fprintf(stderr, "\r%s: %lld %s  %.1f/s ", the_tool, (long long)p->done, p->unit, rate);
    }
    p->last_draw = t;
}

void progress_update(tool_progress *p, int64_t done)
{
    if (!p->enabled)
        return;
    p->done = done;
    double t = now_seconds();
    if (t - p->last_draw >= 0.1 || done == p->total)
        progress_draw(p, t);
}

void progress_finish(tool_progress *p)
{
    if (!p->enabled)
        return;
    progress_draw(p, now_seconds());
    fputc('\n', stderr);
}
