/* common.h: what every it-* tool shares: error printing, standard options, shards, progress.
 * Conventions: data on stdout only; messages on stderr as "it-xxx: message"; exit 0 ok,
 * 1 done but some inputs failed, 2 usage, 3+ fatal. */
#ifndef IT_TOOLS_COMMON_H
#define IT_TOOLS_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "infotok/rate.h"

enum { EXIT_OK = 0, EXIT_SOME_FAILED = 1, EXIT_USAGE = 2, EXIT_FATAL = 3 };

/* Set once from main: the name used in every message. */
void tool_init(const char *name);
const char *tool_name(void);

/* "it-xxx: message" on stderr. */
void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "it-xxx: message: <library detail or strerror(code)>" for a failed library call. */
void print_lib_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "it-xxx: message" plus "Try 'it-xxx --help'." and return EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --version: the tool, the library and the libraries under it, on stdout. */
void print_version(void);

/* Parse helpers: 0 on success, -1 (after print_error) on a bad value. */
int parse_int(const char *opt, const char *s, long min, long max, long *out);
int parse_double(const char *opt, const char *s, double min, double max, double *out);
/* A byte count with an optional K, M or G suffix (powers of 1024), > 0. */
int parse_size(const char *opt, const char *s, uint64_t *out);

/* --shard I/N: I in [0, N), 0-based; "auto" takes them from a Slurm job array
 * (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT), "auto/N" from a
 * Kubernetes indexed job (JOB_COMPLETION_INDEX of N). A shard takes the contiguous slice
 * [I*n/N, (I+1)*n/N) of a sorted input of n. */
typedef struct tool_shard { long index, count; } tool_shard;
int parse_shard(const char *s, tool_shard *out);
void shard_range(const tool_shard *sh, int64_t n, int64_t *begin, int64_t *end);
/* The same with item i weighing weight[i] >= 0 (--balance duration): contiguous slices, item i
 * going to the task floor(N * (W_i + weight[i] / 2) / W) where W_i is the weight before it and
 * W the total, so slices hold about equal weight, stay in input order, and concatenating them
 * in task order gives the unsharded order. All zero weights: the same as shard_range. */
void shard_range_weighted(const tool_shard *sh, const double *weight, int64_t n, int64_t *begin, int64_t *end);

/* Progress on stderr (--progress=auto|bar|lines|none). auto: a bar redrawn in place when
 * stderr is a terminal, else (Slurm, CI, a log file) one line every PROGRESS_INTERVAL
 * seconds; -q means none unless --progress is given. The environment variable
 * IT_PROGRESS_INTERVAL (seconds) overrides the interval of lines, for tests. */
enum { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES, PROGRESS_NONE };
#define PROGRESS_INTERVAL 30.0
/* Parses --progress's value into the process-wide mode; -1 (after usage_error) on a bad value. */
int parse_progress(const char *arg);
typedef struct tool_progress {
    int enabled;              /* PROGRESS_BAR, PROGRESS_LINES or 0 */
    int lines, final_line;    /* lines printed; print one at the end (asked for, or some were) */
    int64_t total, done;
    double start, last_draw, interval;
    const char *unit;
} tool_progress;
/* One progress line (the lines mode), without newline, into buf: for tests of the format. */
void progress_format_line(const tool_progress *p, double elapsed, char *buf, size_t size);
void progress_start(tool_progress *p, int64_t total, const char *unit, int quiet);
void progress_update(tool_progress *p, int64_t done);
void progress_finish(tool_progress *p);

double now_seconds(void);

/* mkdir -p of the directories a path names before its last '/' ("out/" or "a/b/name" need not
 * exist). 0 or IT_E_IO with the message set. */
int make_parent_dirs(const char *path);
/* ---- option groups: parsed and checked in one place for every tool ---------------------- */
#include <getopt.h>
#include "infotok/model.h"

enum {
    OPT_AVG_RATE = 0x4000, OPT_STRATEGY, OPT_ELBO_STAT, OPT_FULL_RATE, /* the rate group */
    OPT_CHECKPOINT, OPT_DEVICE, OPT_PRECISION,                         /* the model group */
    OPT_PROGRESS,                                                      /* every long job */
    OPT_TOOL_FIRST                                                     /* a tool's own options */
};
#define RATE_LONGOPTS                                                                          \
    {"avg-rate", required_argument, NULL, OPT_AVG_RATE},                                      \
    {"strategy", required_argument, NULL, OPT_STRATEGY},                                      \
    {"elbo-stat", required_argument, NULL, OPT_ELBO_STAT},                                    \
    {"full-rate", no_argument, NULL, OPT_FULL_RATE}
#define PROGRESS_LONGOPT {"progress", required_argument, NULL, OPT_PROGRESS}
#define MODEL_LONGOPTS                                                                         \
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},                                  \
    {"device", required_argument, NULL, OPT_DEVICE},                                          \
    {"precision", required_argument, NULL, OPT_PRECISION},                                    \
    {"threads", required_argument, NULL, '@'}

/* --avg-rate R, --strategy S, --elbo-stat FILE, --full-rate */
typedef struct rate_opts {
    double avg_rate;
    int strategy;
    const char *stat_file;
    int rate_given, strategy_given, full_rate;
} rate_opts;
/* Defaults: rate 0.5, strategy global_elbo, nothing given. */
void rate_opts_init(rate_opts *o);
/* 1 when c is a rate option (taken), 0 when it is not, -1 for a bad value (printed). */
int rate_option(rate_opts *o, int c, const char *arg);
/* The combinations no tool accepts; 0 or EXIT_USAGE (printed). Tools that re-allocate
 * records (it-pack, it-decode) also need --avg-rate for --strategy and --elbo-stat. */
int rate_opts_check(const rate_opts *o, int reallocating);
/* What the options ask of records read from inputs: 0 when nothing (keep the records' own
 * masks), 1 with *a set (--full-rate: no masks; --avg-rate: that allocation, its global_elbo
 * statistic from --elbo-stat or by the one policy, it_corpus_stat()), -1 on error (printed). */
int rate_opts_allocation(const rate_opts *o, char **inputs, int n, it_allocation *a);
/* --elbo-stat FILE for an allocation whose strategy is set: -1 on error (printed). */
int rate_opts_corpus_stat(const rate_opts *o, char **inputs, int n, it_elbo_stat *stat);

/* --checkpoint FILE, --device cpu|cuda[:N], --precision fp32|bf16, -@/--threads N */
typedef struct model_opts {
    const char *checkpoint;  /* NULL: the bundled model */
    const char *device;
    int precision;           /* -1 until given or decided (model_opts_default_precision) */
    int precision_given;
    long threads;
} model_opts;
void model_opts_init(model_opts *o);
/* 1 taken, 0 not a model option, -1 bad value (printed). */
int model_option(model_opts *o, int c, const char *arg);
/* Tools that read tokens: without --precision, the precision the first input's tokens were
 * made in (its HEADER; stdin is not peeked at). -1 on error (printed). */
int model_opts_precision_from_inputs(model_opts *o, char **inputs, int n);
/* Load the model the options name on the device they name, in their precision (default:
 * infotok-precision(7): fp32 on the cpu backend, bf16 on cuda): -1 on error (printed). */
int model_opts_load(const model_opts *o, it_model **m);
/* "the bundled model" or the --checkpoint path, for messages. */
const char *model_opts_name(const model_opts *o);

#endif
