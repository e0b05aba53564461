/* stats.h: the parts of it-stats, samtools-stats style: collection of the token statistics
 * (stats_collect.c, with the mergeable --partial form), the --psnr quality pass
 * (stats_quality.c), the report (stats_report.c) and the figures (stats_plot.c). */
#ifndef IT_TOOLS_STATS_H
#define IT_TOOLS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "infotok/stream.h"
#include "infotok/model.h"
#include "infotok/quality.h"
#include "infotok/rate.h"

#define CODES 64000

typedef struct video_row {
    char id[17];
    char *path;
    int ok;
    uint32_t windows;
    int64_t frames;
    uint64_t tokens, kept, pixels;
    double fps;
} video_row;

/* Moments of a distribution: mergeable exactly (n, min, max; sums in double). */
typedef struct moments { uint64_t n; double sum, sumsq, min, max; } moments;

/* A histogram with fixed bins [i*width, (i+1)*width), grown on demand: fixed bins are what
 * lets per-task statistics be merged (--partial / --merge) into exactly the whole corpus's. */
typedef struct fixed_hist { double width; uint64_t *count; double *sum; size_t n; } fixed_hist;

#define KEPT_BIN 16.0   /* kept tokens per window */
#define ELBO_BIN 0.01   /* window ELBO */
#define RATE_BINS 20    /* window rate over [0, 1] */

enum { M_WIN_KEPT, M_VID_KEPT, M_RATE, M_ELBO, NMOM };
extern const char *const stats_moment_names[NMOM];

typedef struct stats {
    uint64_t inputs, archive_bytes, videos, failed, windows, frames, pixels, tokens, kept;
    double seconds;
    uint64_t *codes;            /* [CODES] kept-token counts */
    uint64_t checksum;
    moments mom[NMOM];
    fixed_hist h_kept, h_elbo;  /* h_elbo.sum: the windows' rates, for rate against ELBO */
    uint64_t h_rate[RATE_BINS];
    /* per window, for quantiles and the scatter plot (not in merged statistics) */
    double *win_kept, *win_rate, *win_elbo;
    size_t nwin, capwin;
    int merged;
    /* per video */
    video_row *vids;
    size_t nvid, capvid;
} stats;

/* ---- stats_collect.c ---- */
int stats_init(stats *s);
void stats_free(stats *s);
/* Every record of an input (stream or shard). -1 on error (printed). */
int stats_collect(stats *s, const char *path);
/* --partial FILE / --merge: -1 on error (printed). */
int stats_write_partial(const stats *s, const char *path);
int stats_merge_partial(stats *s, const char *path);

/* ---- stats_quality.c: --psnr ---- */
typedef struct qconf {
    int strategy;        /* IT_STRATEGY_NONE: the records' own masks */
    float rate;
    it_quality pooled;
    double psnr_sum, ssim_sum;
    int psnr_inf;
    uint64_t videos, failed, tokens, kept;
    /* per compared video */
    double *vpsnr, *vssim;
    char (*vid)[17];
} qconf;
/* Decode every video of the inputs under conf (re-allocated with stat when conf->strategy is
 * set) and compare it with its source. nvid: videos in the inputs (for the per-video rows).
 * A video that cannot be compared is reported and counted in conf->failed; -1 (printed) for
 * what stops the pass. */
int stats_quality(it_model *m, const char *model_name, int any_precision, qconf *conf, const it_elbo_stat *stat, char **inputs,
                  int n, size_t nvid, int ssim);
void qconf_free(qconf *c);

/* ---- stats_report.c ---- */
/* The report on stdout (TSV sections or JSON); -1 when it cannot be written (printed). */
int stats_report(const stats *s, const qconf *confs, size_t nconf, int json, int ssim, int argc, char **argv);
/* SVG figures into dir; -1 on error (printed). */
int stats_figures(const stats *s, const qconf *confs, size_t nconf, int with_rates, const char *dir);

#endif
