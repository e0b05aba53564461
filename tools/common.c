/* common.c: error printing, standard option parsing, shards and progress for the it-* tools. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "infotok/records.h"
#include "infotok/core.h"
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

int parse_size(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1ull << 30, end++;
    if (errno || end == s || *end || v == 0 || v > (UINT64_MAX >> 31) || s[0] == '-') {
        print_error("invalid value '%s' for %s: expected a size such as 512M or 1G", s, opt);
        return -1;
    }
    *out = v * mul;
    return 0;
}

/* A non-negative integer environment variable; -1 if unset, -2 if malformed. */
static long env_index(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    return errno || *end || x < 0 ? -2 : x;
}

/* --shard auto[/N]: the task's slice from the scheduler. Slurm job arrays give the index and
 * count (an array need not start at 0: SLURM_ARRAY_TASK_MIN is subtracted); Kubernetes
 * indexed jobs give only JOB_COMPLETION_INDEX, so the count must be written (auto/N). */
static int parse_shard_auto(const char *s, const char *count_text, tool_shard *out)
{
    long n = -1;
    if (count_text) {
        char *end;
        errno = 0;
        n = strtol(count_text, &end, 10);
        if (errno || end == count_text || *end || n < 1) {
            print_error("invalid value '%s' for --shard: expected auto or auto/N", s);
            return -1;
        }
    }
    long id = env_index("SLURM_ARRAY_TASK_ID");
    if (id != -1) {
        long count = env_index("SLURM_ARRAY_TASK_COUNT"), min = env_index("SLURM_ARRAY_TASK_MIN");
        if (id < 0 || count == -2 || min == -2 || (count < 0 && n < 0)) {
            print_error("--shard auto: SLURM_ARRAY_TASK_ID/COUNT/MIN are malformed or incomplete");
            return -1;
        }
        out->index = id - (min > 0 ? min : 0);
        out->count = n > 0 ? n : count;
    } else if ((id = env_index("JOB_COMPLETION_INDEX")) != -1) {
        if (id < 0 || n < 0) {
            print_error(id < 0 ? "--shard auto: JOB_COMPLETION_INDEX is malformed"
                               : "--shard auto: a Kubernetes indexed job gives no task count; use --shard auto/N");
            return -1;
        }
        out->index = id;
        out->count = n;
    } else {
        print_error("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor "
                    "JOB_COMPLETION_INDEX (a Kubernetes indexed job) is set");
        return -1;
    }
    if (out->index < 0 || out->index >= out->count) {
        print_error("--shard auto: task %ld is outside 0..%ld", out->index, out->count - 1);
        return -1;
    }
    return 0;
}

int parse_shard(const char *s, tool_shard *out)
{
    long i, n;
    char *end;
    if (strncmp(s, "auto", 4) == 0 && (s[4] == '\0' || s[4] == '/'))
        return parse_shard_auto(s, s[4] == '/' ? s + 5 : NULL, out);
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
    print_error("invalid value '%s' for --shard: expected I/N with 0 <= I < N, auto or auto/N", s);
    return -1;
}

void shard_range(const tool_shard *sh, int64_t n, int64_t *begin, int64_t *end)
{
    /* Contiguous slices keep each shard's output sorted, so concatenating them in index
     * order gives the unsharded output. */
    *begin = n * sh->index / sh->count;
    *end = n * (sh->index + 1) / sh->count;
}

void shard_range_weighted(const tool_shard *sh, const double *weight, int64_t n, int64_t *begin, int64_t *end)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        total += weight[i];
    if (!(total > 0) || !isfinite(total)) {
        shard_range(sh, n, begin, end);
        return;
    }
    *begin = *end = n;
    int found = 0;
    double before = 0;
    for (int64_t i = 0; i < n; i++) {
        long task = (long)floor((double)sh->count * (before + weight[i] / 2) / total);
        if (task >= sh->count)
            task = sh->count - 1;
        if (task == sh->index && !found) {
            *begin = i;
            found = 1;
        }
        if (task > sh->index) {
            if (!found)
                *begin = i;
            *end = i;
            return;
        }
        before += weight[i];
    }
    if (!found)
        *begin = n;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int progress_mode = PROGRESS_AUTO;

int parse_progress(const char *arg)
{
    static const char *const names[] = {"auto", "bar", "lines", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(arg, names[i]) == 0) {
            progress_mode = i;
            return 0;
        }
    usage_error("invalid value '%s' for --progress: expected auto, bar, lines or none", arg);
    return -1;
}

void progress_start(tool_progress *p, int64_t total, const char *unit, int quiet)
{
    memset(p, 0, sizeof *p);
    int mode = progress_mode;
    if (mode == PROGRESS_AUTO)
        mode = quiet ? PROGRESS_NONE : isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LINES;
    p->enabled = mode == PROGRESS_NONE ? 0 : mode;
    p->final_line = progress_mode == PROGRESS_LINES;
    p->total = total;
    p->unit = unit;
    p->start = p->last_draw = now_seconds();
    p->interval = PROGRESS_INTERVAL;
    const char *env = getenv("IT_PROGRESS_INTERVAL");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (*end == '\0' && isfinite(v) && v >= 0)
            p->interval = v;
    }
}

static void clock_text(char *buf, size_t size, double s)
{
    long t = s > 0 && s < 1e9 ? (long)s : 0;
    snprintf(buf, size, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void progress_format_line(const tool_progress *p, double elapsed, char *buf, size_t size)
{
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    char el[32], eta[32];
    clock_text(el, sizeof el, elapsed);
    if (p->total > 0) {
        clock_text(eta, sizeof eta, rate > 0 ? (p->total - p->done) / rate : 0);
        snprintf(buf, size, "%s: progress %lld/%lld %s (%.0f%%), %.2f/s, elapsed %s, ETA %s", the_tool,
                 (long long)p->done, (long long)p->total, p->unit, 100.0 * (double)p->done / (double)p->total,
                 rate, el, rate > 0 ? eta : "unknown");
    } else {
        snprintf(buf, size, "%s: progress %lld %s, %.2f/s, elapsed %s", the_tool, (long long)p->done, p->unit,
                 rate, el);
    }
}

static void progress_line(tool_progress *p, double t)
{
    char line[512];
    progress_format_line(p, t - p->start, line, sizeof line);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    p->last_draw = t;
    p->lines++;
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
    if (p->enabled == PROGRESS_LINES) {
        if (t - p->last_draw >= p->interval)
            progress_line(p, t);
    } else if (t - p->last_draw >= 0.1 || done == p->total) {
        progress_draw(p, t);
    }
}

void progress_finish(tool_progress *p)
{
    if (!p->enabled)
        return;
    if (p->enabled == PROGRESS_LINES) {
        if (p->final_line || p->lines) /* the last line says where the job ended */
            progress_line(p, now_seconds());
        return;
    }
    progress_draw(p, now_seconds());
    fputc('\n', stderr);
}

int make_parent_dirs(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return it_error_set(IT_E_NOMEM, "out of memory");
    int rc = 0;
    for (char *q = strchr(d + 1, '/'); rc == 0 && q; q = strchr(q + 1, '/')) {
        *q = '\0';
        if (mkdir(d, 0777) != 0 && errno != EEXIST)
            rc = it_error_set(IT_E_IO, "%s: cannot create the directory: %s", d, strerror(errno));
        *q = '/';
    }
    free(d);
    return rc;
}

void rate_opts_init(rate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->avg_rate = 0.5;
    o->strategy = IT_STRATEGY_GLOBAL_ELBO;
}

int rate_option(rate_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_AVG_RATE:
        if (parse_double("--avg-rate", arg, IT_RATE_MIN, IT_RATE_MAX, &o->avg_rate) < 0)
            return -1;
        o->rate_given = 1;
        return 1;
    case OPT_STRATEGY:
        if (it_strategy_parse(arg, &o->strategy) < 0) {
            usage_error("%s", it_error_message());
            return -1;
        }
        o->strategy_given = 1;
        return 1;
    case OPT_ELBO_STAT: o->stat_file = arg; return 1;
    case OPT_FULL_RATE: o->full_rate = 1; return 1;
    default: return 0;
    }
}

int rate_opts_check(const rate_opts *o, int reallocating)
{
    if (reallocating && (o->strategy_given || o->stat_file) && !o->rate_given)
        return usage_error("--strategy and --elbo-stat need --avg-rate");
    if (o->full_rate && (o->rate_given || o->strategy_given || o->stat_file))
        return usage_error("--full-rate cannot be combined with --avg-rate, --strategy or --elbo-stat");
    if (o->stat_file && o->strategy != IT_STRATEGY_GLOBAL_ELBO)
        return usage_error("--elbo-stat is for --strategy global_elbo");
    return 0;
}

int rate_opts_corpus_stat(const rate_opts *o, char **inputs, int n, it_elbo_stat *stat)
{
    int rc = o->stat_file ? it_elbo_stat_load(o->stat_file, stat)
                          : it_corpus_stat((const char *const *)inputs, n, stat, NULL);
    if (rc < 0) {
        print_lib_error(rc, "global_elbo");
        return -1;
    }
    it_log(IT_LOG_INFO, "corpus ELBO statistic: %" PRIu64 " windows, mean %.6g (%s)", stat->count,
           (double)it_elbo_stat_mean(stat), o->stat_file ? o->stat_file
                                            : rc == IT_STAT_ALLOCATION ? "the inputs' ALLOCATION records"
                                                                       : "the inputs' windows");
    return 0;
}

int rate_opts_allocation(const rate_opts *o, char **inputs, int n, it_allocation *a)
{
    memset(a, 0, sizeof *a);
    if (o->full_rate) {
        a->strategy = IT_STRATEGY_NONE;
        return 1;
    }
    if (!o->rate_given)
        return 0;
    a->strategy = o->strategy;
    a->avg_rate = (float)o->avg_rate;
    if (a->strategy == IT_STRATEGY_GLOBAL_ELBO && rate_opts_corpus_stat(o, inputs, n, &a->stat) < 0)
        return -1;
    return 1;
}

void model_opts_init(model_opts *o)
{
    o->checkpoint = NULL;
    o->device = "cpu";
    o->precision = -1;
    o->precision_given = 0;
    o->threads = 1;
}

int model_option(model_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_CHECKPOINT: o->checkpoint = arg; return 1;
    case OPT_DEVICE: {
        char *end = NULL;
        long n = 0;
        if (strncmp(arg, "cuda:", 5) == 0) {
            errno = 0;
            n = strtol(arg + 5, &end, 10);
        }
        if (strcmp(arg, "cpu") != 0 && strcmp(arg, "cuda") != 0 &&
            (strncmp(arg, "cuda:", 5) != 0 || errno || end == arg + 5 || *end || n < 0 || n > 1023)) {
            usage_error("invalid value '%s' for --device: expected cpu, cuda or cuda:N", arg);
            return -1;
        }
        o->device = arg;
        return 1;
    }
    case OPT_PRECISION:
        if (it_precision_parse(arg, &o->precision) < 0) {
            usage_error("invalid value '%s' for --precision: expected fp32 or bf16", arg);
            return -1;
        }
        o->precision_given = 1;
        return 1;
    case '@': return parse_int("--threads", arg, 1, 1024, &o->threads) < 0 ? -1 : 1;
    default: return 0;
    }
}

int model_opts_precision_from_inputs(model_opts *o, char **inputs, int n)
{
    if (o->precision_given)
        return 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(inputs[i], "-") == 0)
            continue;
        it_record_reader *r = NULL;
        it_stream_header h = {0};
        int type, rc = it_record_reader_open(&r, inputs[i]);
        if (rc == 0 && (rc = it_record_next(r, &type)) == 1 && type == IT_REC_HEADER &&
            (rc = it_stream_header_parse(it_record_json(r), inputs[i], &h)) == 0)
            o->precision = h.precision;
        it_stream_header_clear(&h);
        it_record_reader_free(&r);
        if (rc < 0) {
            print_lib_error(rc, "cannot read");
            return -1;
        }
        return 0;
    }
    return 0;
}

const char *model_opts_name(const model_opts *o)
{
    return o->checkpoint ? o->checkpoint : "the bundled model";
}

int model_opts_load(const model_opts *o, it_model **m)
{
    const int cuda = strcmp(o->device, "cpu") != 0;
    it_model_opts mo = {cuda ? "cuda" : "cpu", cuda && o->device[4] == ':' ? atoi(o->device + 5) : 0,
                        o->precision >= 0 ? o->precision : cuda ? IT_PRECISION_BF16 : IT_PRECISION_FP32,
                        (int)o->threads, 1};
    if (cuda && !it_model_backend_available("cuda")) { /* the library says why (module missing, no runtime) */
        print_error("--device %s: %s", o->device, it_error_message());
        return -1;
    }
    const char *path = o->checkpoint ? o->checkpoint : it_default_model_path();
    int rc = it_model_load_opts(m, path, &mo);
    if (rc < 0) {
        print_lib_error(rc, "cannot load the model");
        return -1;
    }
    return 0;
}
