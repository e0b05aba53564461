/* stats_report.c: it-stats' report, samtools-stats style: a header naming the version and
 * command line, then sections whose lines start with their code (SN, DM, DQ, WL, EL, VL, RT,
 * RE, VD, CU, PS, PV), or the same as one JSON object; and the SVG figures of --plot. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "infotok/core.h"
#include "tools/common.h"
#include "tools/stats.h"
#include "tools/stats_plot.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear-interpolated quantile of a sorted array (numpy's default). */
static double quantile(const double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    return i + 1 < n ? v[i] + (v[i + 1] - v[i]) * (pos - (double)i) : v[n - 1];
}

typedef struct dist {
    double mean, min, p10, p50, p90, max;
    size_t n;
} dist;

static dist describe(const double *in, size_t n)
{
    dist d = {NAN, NAN, NAN, NAN, NAN, NAN, n};
    if (!n)
        return d;
    double *v = malloc(n * sizeof *v), sum = 0;
    if (!v)
        return d;
    memcpy(v, in, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_d);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    d = (dist){sum / (double)n, v[0], quantile(v, n, 0.1), quantile(v, n, 0.5), quantile(v, n, 0.9), v[n - 1], n};
    free(v);
    return d;
}

static void fmt_db(char *buf, size_t n, double v)
{
    if (isinf(v))
        snprintf(buf, n, "inf");
    else if (isnan(v))
        snprintf(buf, n, "NA");
    else
        snprintf(buf, n, "%.4f", v);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

typedef struct out {
    int json;
    json_t *root;
} out;

static void put_sn(out *o, const char *key, double v, const char *fmt)
{
    if (o->json) {
        json_object_set_new(json_object_get(o->root, "summary"), key, jnum(v));
        return;
    }
    printf("SN\t%s:\t", key);
    if (isnan(v))
        printf("NA\n");
    else if (isinf(v))
        printf("inf\n");
    else
        printf(fmt, v), printf("\n");
}

int stats_report(const stats *s, const qconf *confs, size_t nconf, int json, int ssim, int argc, char **argv)
{
    const int psnr = confs != NULL;
    out o = {json, json ? json_object() : NULL};
    char cmd[4096] = "";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
        if (i + 1 < argc)
            strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
    }
    const double bits_per_token = log2((double)CODES);
    uint64_t used = 0;
    double entropy = 0;
    for (int i = 0; i < CODES; i++)
        if (s->codes[i]) {
            used++;
            double p = (double)s->codes[i] / (double)s->kept;
            entropy -= p * log2(p);
        }
    double means[NMOM];
    for (int k = 0; k < NMOM; k++)
        means[k] = s->mom[k].n ? s->mom[k].sum / (double)s->mom[k].n : NAN;
    char sum[32];
    snprintf(sum, sizeof sum, "%016" PRIx64, s->checksum);
    if (json) {
        json_object_set_new(o.root, "tool", json_string("it-stats"));
        json_object_set_new(o.root, "version", json_string(it_version()));
        json_object_set_new(o.root, "command", json_string(cmd));
        json_object_set_new(o.root, "summary", json_object());
    } else {
        printf("# This file was produced by it-stats (infotok %s) and can be plotted with --plot.\n", it_version());
        printf("# The command line was: %s\n", cmd);
        printf("# Summary numbers. Use `grep ^SN | cut -f 2-` to extract this part.\n");
    }
    put_sn(&o, "inputs", (double)s->inputs, "%.0f");
    put_sn(&o, "videos", (double)s->videos, "%.0f");
    put_sn(&o, "videos failed", (double)s->failed, "%.0f");
    put_sn(&o, "windows", (double)s->windows, "%.0f");
    put_sn(&o, "frames", (double)s->frames, "%.0f");
    put_sn(&o, "seconds of video", s->seconds, "%.3f");
    put_sn(&o, "pixels", (double)s->pixels, "%.0f");
    put_sn(&o, "tokens (full rate)", (double)s->tokens, "%.0f");
    put_sn(&o, "tokens kept", (double)s->kept, "%.0f");
    put_sn(&o, "average rate", s->tokens ? (double)s->kept / (double)s->tokens : NAN, "%.6f");
    put_sn(&o, "codebook size", CODES, "%.0f");
    put_sn(&o, "bits per token", bits_per_token, "%.4f");
    put_sn(&o, "bits per pixel", s->pixels ? (double)s->kept * bits_per_token / (double)s->pixels : NAN, "%.6f");
    put_sn(&o, "tokens per second of video", s->seconds > 0 ? (double)s->kept / s->seconds : NAN, "%.1f");
    put_sn(&o, "archive bytes", (double)s->archive_bytes, "%.0f");
    put_sn(&o, "archive bytes per kept token", s->kept ? (double)s->archive_bytes / (double)s->kept : NAN, "%.4f");
    put_sn(&o, "codes used", (double)used, "%.0f");
    put_sn(&o, "codes unused", (double)(CODES - used), "%.0f");
    put_sn(&o, "code entropy (bits)", s->kept ? entropy : NAN, "%.4f");
    put_sn(&o, "code perplexity", s->kept ? pow(2, entropy) : NAN, "%.1f");
    put_sn(&o, "kept tokens per window, mean", means[M_WIN_KEPT], "%.2f");
    put_sn(&o, "kept tokens per video, mean", means[M_VID_KEPT], "%.2f");
    put_sn(&o, "window rate, mean", means[M_RATE], "%.6f");
    put_sn(&o, "window ELBO, mean", means[M_ELBO], "%.6f");
    if (json)
        json_object_set_new(json_object_get(o.root, "summary"), "token checksum", json_string(sum));
    else
        printf("SN\ttoken checksum:\t%s\n", sum);

    /* distributions: moments (DM, mergeable), quantiles (DQ, not in merged statistics) */
    if (!json)
        printf("# Distributions. Use `grep ^DM | cut -f 2-`: name, n, mean, standard deviation, min, max.\n");
    for (int k = 0; k < NMOM; k++) {
        const moments *m = &s->mom[k];
        const double mean = means[k];
        const double var = m->n ? m->sumsq / (double)m->n - mean * mean : NAN;
        const double sd = m->n ? sqrt(var > 0 ? var : 0) : NAN;
        if (json)
            json_object_set_new(o.root, stats_moment_names[k],
                                json_pack("{s:I, s:o, s:o, s:o, s:o}", "n", (json_int_t)m->n, "mean", jnum(mean), "sd",
                                          jnum(sd), "min", jnum(m->n ? m->min : NAN), "max", jnum(m->n ? m->max : NAN)));
        else
            printf("DM\t%s\t%" PRIu64 "\t%.6g\t%.6g\t%.6g\t%.6g\n", stats_moment_names[k], m->n, mean, sd, m->n ? m->min : NAN,
                   m->n ? m->max : NAN);
    }
    if (!s->merged) {
        double *vkept = malloc((s->nvid ? s->nvid : 1) * sizeof *vkept);
        size_t nv = 0;
        for (size_t i = 0; vkept && i < s->nvid; i++)
            if (s->vids[i].ok)
                vkept[nv++] = (double)s->vids[i].kept;
        const dist d[NMOM] = {describe(s->win_kept, s->nwin), describe(vkept, nv), describe(s->win_rate, s->nwin),
                              describe(s->win_elbo, s->nwin)};
        free(vkept);
        if (!json)
            printf("# Quantiles. Use `grep ^DQ | cut -f 2-`: name, n, p10, median, p90.\n");
        for (int k = 0; k < NMOM; k++) {
            if (json) {
                json_t *e = json_object_get(o.root, stats_moment_names[k]);
                json_object_set_new(e, "p10", jnum(d[k].p10));
                json_object_set_new(e, "median", jnum(d[k].p50));
                json_object_set_new(e, "p90", jnum(d[k].p90));
            } else {
                printf("DQ\t%s\t%zu\t%.6g\t%.6g\t%.6g\n", stats_moment_names[k], d[k].n, d[k].p10, d[k].p50, d[k].p90);
            }
        }
    }
    /* histograms over fixed bins */
    const struct { const char *code, *name; const fixed_hist *h; } fh[] = {
        {"WL", "kept tokens per window", &s->h_kept}, {"EL", "window ELBO", &s->h_elbo}};
    for (size_t k = 0; k < 2; k++) {
        const fixed_hist *h = fh[k].h;
        if (!json)
            printf("# Histogram of the %s. Use `grep ^%s | cut -f 2-`: bin start, bin end, count (empty bins "
                   "left out).\n", fh[k].name, fh[k].code);
        json_t *arr = json ? json_array() : NULL;
        for (size_t b = 0; b < h->n; b++) {
            if (!h->count[b])
                continue;
            const double lo = h->width * (double)b;
            if (json)
                json_array_append_new(arr, json_pack("[f,f,I]", lo, lo + h->width, (json_int_t)h->count[b]));
            else
                printf("%s\t%.6g\t%.6g\t%" PRIu64 "\n", fh[k].code, lo, lo + h->width, h->count[b]);
        }
        if (json) {
            char key[96];
            snprintf(key, sizeof key, "histogram: %s", fh[k].name);
            json_object_set_new(o.root, key, arr);
        }
    }
    /* kept tokens per video: a clip and a film differ by orders of magnitude, so power-of-two
     * bins [2^(b-1), 2^b) (bin 0: none kept); from the video rows, which merge too */
    {
        uint64_t vl[66] = {0};
        int top = -1;
        for (size_t i = 0; i < s->nvid; i++)
            if (s->vids[i].ok) {
                int b = 0;
                for (uint64_t k = s->vids[i].kept; k; k >>= 1)
                    b++;
                vl[b]++;
                top = b > top ? b : top;
            }
        if (!json)
            printf("# Histogram of the kept tokens per video. Use `grep ^VL | cut -f 2-`: bin start, bin end, count "
                   "(bins of powers of two; empty bins left out).\n");
        json_t *arr = json ? json_array() : NULL;
        for (int b = 0; b <= top; b++) {
            if (!vl[b])
                continue;
            const double lo = b ? ldexp(1, b - 1) : 0, hi = ldexp(1, b);
            if (json)
                json_array_append_new(arr, json_pack("[f,f,I]", lo, hi, (json_int_t)vl[b]));
            else
                printf("VL\t%.0f\t%.0f\t%" PRIu64 "\n", lo, hi, vl[b]);
        }
        if (json)
            json_object_set_new(o.root, "histogram: kept tokens per video", arr);
    }
    {
        if (!json)
            printf("# Histogram of the window rate. Use `grep ^RT | cut -f 2-`: bin start, bin end, count.\n");
        json_t *arr = json ? json_array() : NULL;
        for (int b = 0; b < RATE_BINS; b++) {
            const double lo = (double)b / RATE_BINS, hi = (double)(b + 1) / RATE_BINS;
            if (json)
                json_array_append_new(arr, json_pack("[f,f,I]", lo, hi, (json_int_t)s->h_rate[b]));
            else
                printf("RT\t%.6g\t%.6g\t%" PRIu64 "\n", lo, hi, s->h_rate[b]);
        }
        if (json)
            json_object_set_new(o.root, "histogram: window rate", arr);
    }
    /* rate against ELBO: windows binned by ELBO, mean rate per bin */
    {
        if (!json)
            printf("# Rate against ELBO. Use `grep ^RE | cut -f 2-`: ELBO bin start, end, windows, mean rate.\n");
        json_t *arr = json ? json_array() : NULL;
        for (size_t b = 0; b < s->h_elbo.n; b++) {
            const double n = (double)s->h_elbo.count[b];
            if (!n)
                continue;
            const double lo = s->h_elbo.width * (double)b;
            if (json)
                json_array_append_new(arr, json_pack("[f,f,f,f]", lo, lo + s->h_elbo.width, n, s->h_elbo.sum[b] / n));
            else
                printf("RE\t%.6g\t%.6g\t%.0f\t%.6f\n", lo, lo + s->h_elbo.width, n, s->h_elbo.sum[b] / n);
        }
        if (json)
            json_object_set_new(o.root, "rate against ELBO", arr);
    }
    /* per video */
    if (!json)
        printf("# Videos. Use `grep ^VD | cut -f 2-`: id, status, windows, frames, tokens, kept, rate, "
               "bits per pixel, path.\n");
    json_t *varr = json ? json_array() : NULL;
    for (size_t i = 0; i < s->nvid; i++) {
        const video_row *v = &s->vids[i];
        const double rate = v->tokens ? (double)v->kept / (double)v->tokens : NAN;
        const double bpp = v->pixels ? (double)v->kept * bits_per_token / (double)v->pixels : NAN;
        if (json)
            json_array_append_new(varr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:s}", "id", v->id,
                                                  "status", v->ok ? "ok" : "error", "windows", (json_int_t)v->windows,
                                                  "frames", (json_int_t)v->frames, "tokens", (json_int_t)v->tokens,
                                                  "kept", (json_int_t)v->kept, "rate", jnum(rate), "bpp", jnum(bpp),
                                                  "path", v->path));
        else
            printf("VD\t%s\t%s\t%" PRIu32 "\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\t%.6f\t%.6f\t%s\n", v->id,
                   v->ok ? "ok" : "error", v->windows, v->frames, v->tokens, v->kept, rate, bpp, v->path);
    }
    if (json)
        json_object_set_new(o.root, "videos", varr);
    /* top codes */
    if (!json)
        printf("# The 20 most used codes. Use `grep ^CU | cut -f 2-`: index, count, fraction.\n");
    json_t *carr = json ? json_array() : NULL;
    {
        uint64_t prev = UINT64_MAX;
        int prev_i = -1;
        for (int k = 0; k < 20; k++) {
            int best = -1;
            for (int i = 0; i < CODES; i++)
                if (s->codes[i] && (s->codes[i] < prev || (s->codes[i] == prev && i > prev_i)) &&
                    (best < 0 || s->codes[i] > s->codes[best]))
                    best = i;
            if (best < 0)
                break;
            prev = s->codes[best];
            prev_i = best;
            const double frac = (double)s->codes[best] / (double)s->kept;
            if (json)
                json_array_append_new(carr, json_pack("[i,I,f]", best, (json_int_t)s->codes[best], frac));
            else
                printf("CU\t%d\t%" PRIu64 "\t%.6f\n", best, s->codes[best], frac);
        }
    }
    if (json)
        json_object_set_new(o.root, "top codes", carr);
    /* quality */
    if (psnr) {
        if (!json)
            printf("# Quality. Use `grep ^PS | cut -f 2-`: strategy, requested rate, actual rate, videos, mean "
                   "PSNR over videos (TokenBench), PSNR of the pooled MSE, mean SSIM.\n");
        json_t *qarr = json ? json_array() : NULL;
        for (size_t k = 0; k < nconf; k++) {
            const qconf *q = &confs[k];
            const double mean = q->videos ? (q->psnr_inf ? INFINITY : q->psnr_sum / (double)q->videos) : NAN;
            const double pooled = it_quality_psnr(&q->pooled), ss = ssim && q->videos ? q->ssim_sum / (double)q->videos : NAN;
            const double actual = q->tokens ? (double)q->kept / (double)q->tokens : NAN;
            const char *sname = q->strategy ? it_strategy_name(q->strategy) : "stored";
            char a[32], b[32], c2[32];
            fmt_db(a, sizeof a, mean);
            fmt_db(b, sizeof b, pooled);
            snprintf(c2, sizeof c2, isnan(ss) ? "NA" : "%.5f", ss);
            if (json) {
                json_t *per = json_array();
                for (uint64_t v = 0; v < q->videos; v++)
                    json_array_append_new(per, json_pack("{s:s, s:o, s:o}", "id", q->vid[v], "psnr",
                                                         isinf(q->vpsnr[v]) ? json_string("inf") : jnum(q->vpsnr[v]),
                                                         "ssim", jnum(q->vssim[v])));
                json_array_append_new(qarr, json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "strategy",
                                                      sname, "rate", q->strategy ? json_real(q->rate) : json_null(),
                                                      "actual_rate", jnum(actual), "videos", (json_int_t)q->videos,
                                                      "failed", (json_int_t)q->failed, "psnr_mean",
                                                      isinf(mean) ? json_string("inf") : jnum(mean), "psnr_pooled",
                                                      isinf(pooled) ? json_string("inf") : jnum(pooled), "ssim",
                                                      jnum(ss), "per_video", per));
            }
            else {
                char req[32];
                snprintf(req, sizeof req, q->strategy ? "%g" : "NA", (double)q->rate);
                printf("PS\t%s\t%s\t%.6f\t%" PRIu64 "\t%s\t%s\t%s\n", sname, req, actual, q->videos, a, b, c2);
            }
        }
        if (json)
            json_object_set_new(o.root, "quality", qarr);
        if (!json)
            printf("# Quality per video. Use `grep ^PV | cut -f 2-`: strategy, requested rate, video id, PSNR, "
                   "SSIM.\n");
        for (size_t k = 0; k < nconf && !json; k++)
            for (uint64_t v = 0; v < confs[k].videos; v++) {
                char a[32], req[32], sv[32];
                fmt_db(a, sizeof a, confs[k].vpsnr[v]);
                snprintf(req, sizeof req, confs[k].strategy ? "%g" : "NA", (double)confs[k].rate);
                snprintf(sv, sizeof sv, isnan(confs[k].vssim[v]) ? "NA" : "%.5f", confs[k].vssim[v]);
                printf("PV\t%s\t%s\t%s\t%s\t%s\n",
                       confs[k].strategy ? it_strategy_name(confs[k].strategy) : "stored", req, confs[k].vid[v], a, sv);
            }
    }
    if (json) {
        char *text = json_dumps(o.root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (text)
            puts(text);
        free(text);
        json_decref(o.root);
    }
    if (fflush(stdout) != 0) {
        print_error("cannot write the report: %s", strerror(errno));
        return -1;
    }
    return 0;

}

int stats_figures(const stats *s, const qconf *confs, size_t nconf, int with_rates, const char *plot_dir)
{
    {
        if (mkdir(plot_dir, 0777) != 0 && errno != EEXIST) {
            print_error("%s: cannot create: %s", plot_dir, strerror(errno));
            return -1;
        }
        char p[4096];
        int bad = 0;
        snprintf(p, sizeof p, "%s/token-lengths.svg", plot_dir);
        {
            /* the occupied range of the fixed bins */
            size_t lo = 0, hi = s->h_kept.n;
            while (lo < hi && !s->h_kept.count[lo])
                lo++;
            while (hi > lo && !s->h_kept.count[hi - 1])
                hi--;
            double *counts = calloc(hi > lo ? hi - lo : 1, sizeof *counts);
            for (size_t b = lo; counts && b < hi; b++)
                counts[b - lo] = (double)s->h_kept.count[b];
            bad |= !counts || plot_histogram(p, "Kept tokens per window", "kept tokens", KEPT_BIN * (double)lo, KEPT_BIN,
                                             counts, hi - lo);
            free(counts);
        }
        snprintf(p, sizeof p, "%s/rate-vs-elbo.svg", plot_dir);
        /* every window, or with merged statistics the ELBO bins' mean rates */
        double rx[4096], ry[4096];
        size_t nr = 0;
        for (size_t b = 0; s->merged && b < s->h_elbo.n && nr < 4096; b++)
            if (s->h_elbo.count[b]) {
                rx[nr] = s->h_elbo.width * ((double)b + 0.5);
                ry[nr++] = s->h_elbo.sum[b] / (double)s->h_elbo.count[b];
            }
        plot_series sr = s->merged ? (plot_series){"ELBO bins (mean rate)", rx, ry, nr}
                                  : (plot_series){"windows", s->win_elbo, s->win_rate, s->nwin};
        bad |= plot_xy(p, "Window rate against window ELBO", "window ELBO (mean chunk loss)", "fraction of tokens kept",
                       &sr, 1, 0);
        if (with_rates) {
            plot_series ps[4];
            double xs[4][64], ys[4][64];
            size_t np = 0;
            const int strategies[3] = {IT_STRATEGY_STATIC, IT_STRATEGY_ELBO, IT_STRATEGY_GLOBAL_ELBO};
            for (int k = 0; k < 3; k++) {
                size_t n = 0;
                for (size_t j = 0; j < nconf && n < 64; j++)
                    if (confs[j].strategy == strategies[k] && confs[j].tokens) {
                        xs[np][n] = (double)confs[j].kept / (double)confs[j].tokens;
                        ys[np][n] = confs[j].videos && !confs[j].psnr_inf ? confs[j].psnr_sum / (double)confs[j].videos : NAN;
                        n++;
                    }
                for (size_t j = 1; j < n; j++) /* by rate, so that the line runs left to right */
                    for (size_t i = j; i > 0 && xs[np][i - 1] > xs[np][i]; i--) {
                        double tx = xs[np][i], ty = ys[np][i];
                        xs[np][i] = xs[np][i - 1];
                        ys[np][i] = ys[np][i - 1];
                        xs[np][i - 1] = tx;
                        ys[np][i - 1] = ty;
                    }
                if (n) {
                    ps[np] = (plot_series){it_strategy_name(strategies[k]), xs[np], ys[np], n};
                    np++;
                }
            }
            snprintf(p, sizeof p, "%s/psnr-vs-rate.svg", plot_dir);
            bad |= plot_xy(p, "PSNR against the actual average rate", "fraction of tokens kept",
                           "PSNR (dB, mean over videos)", ps, np, 1);
        }
        return bad ? -1 : 0;
    }
}
