/* stats_plot.c: SVG charts with axes, "nice" ticks, labels, a title and a legend. Written to
 * PATH.tmp and renamed, like every output of the tools. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common.h"
#include "tools/stats_plot.h"

enum { W = 720, H = 440, ML = 80, MR = 30, MT = 50, MB = 60 };
static const char *colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

/* A step of 1, 2 or 5 x 10^k giving about n ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int n)
{
    double span = hi - lo;
    if (!(span > 0))
        return 1;
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct axes {
    double x0, x1, y0, y1;
} axes;

static double sx(const axes *a, double x) { return ML + (x - a->x0) / (a->x1 - a->x0) * (W - ML - MR); }
static double sy(const axes *a, double y) { return H - MB - (y - a->y0) / (a->y1 - a->y0) * (H - MT - MB); }

static void expand(double *lo, double *hi)
{
    if (!(*hi > *lo)) {
        double c = *lo;
        *lo = c - (fabs(c) > 0 ? fabs(c) * 0.1 : 1);
        *hi = c + (fabs(c) > 0 ? fabs(c) * 0.1 : 1);
    }
}

static void escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

/* integer_y: counts, whose ticks are whole numbers */
static void frame(FILE *f, axes *a, const char *title, const char *xlabel, const char *ylabel, int integer_y)
{
    /* round the ranges out to whole ticks (a single value first gets a range around it) */
    expand(&a->x0, &a->x1);
    expand(&a->y0, &a->y1);
    double xs = nice_step(a->x0, a->x1, 8), ys = nice_step(a->y0, a->y1, 6);
    if (integer_y && ys < 1)
        ys = 1;
    a->x0 = floor(a->x0 / xs) * xs;
    a->x1 = ceil(a->x1 / xs) * xs;
    a->y0 = floor(a->y0 / ys) * ys;
    a->y1 = ceil(a->y1 / ys) * ys;
    expand(&a->x0, &a->x1);
    expand(&a->y0, &a->y1);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"13\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">", W / 2);
    escape(f, title);
    fputs("</text>\n", f);
    for (double x = a->x0; x <= a->x1 + xs * 1e-9; x += xs) {
        double px = sx(a, x);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n", px, MT, px, H - MB);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px, H - MB + 18,
                fabs(x) < xs * 1e-9 ? 0.0 : x);
    }
    for (double y = a->y0; y <= a->y1 + ys * 1e-9; y += ys) {
        double py = sy(a, y);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", ML, py, W - MR, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 8, py + 4,
                fabs(y) < ys * 1e-9 ? 0.0 : y);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", ML, MT,
            W - ML - MR, H - MT - MB);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 16);
    escape(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(22 %d) rotate(-90)\" text-anchor=\"middle\">", (MT + H - MB) / 2);
    escape(f, ylabel);
    fputs("</text>\n", f);
}

static FILE *open_tmp(const char *path, char **tmp)
{
    *tmp = malloc(strlen(path) + 5);
    if (!*tmp)
        return NULL;
    sprintf(*tmp, "%s.tmp", path);
    FILE *f = fopen(*tmp, "w");
    if (!f)
        print_error("%s: cannot create: %s", *tmp, strerror(errno));
    return f;
}

static int close_tmp(FILE *f, char *tmp, const char *path)
{
    int ok = fputs("</svg>\n", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        print_error("%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

int plot_histogram(const char *path, const char *title, const char *xlabel, double lo, double width,
                   const double *counts, size_t nbins)
{
    char *tmp;
    FILE *f = open_tmp(path, &tmp);
    if (!f) {
        free(tmp);
        return -1;
    }
    double top = 0;
    for (size_t i = 0; i < nbins; i++)
        top = counts[i] > top ? counts[i] : top;
    axes a = {lo, lo + width * (double)(nbins ? nbins : 1), 0, top > 0 ? top * 1.05 : 1};
    frame(f, &a, title, xlabel, "count", 1);
    for (size_t i = 0; i < nbins; i++) {
        if (counts[i] <= 0)
            continue;
        double x0 = sx(&a, lo + width * (double)i), x1 = sx(&a, lo + width * (double)(i + 1));
        double y = sy(&a, counts[i]), y0 = sy(&a, 0);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"white\"/>\n",
                x0, y, x1 - x0 > 1 ? x1 - x0 : 1, y0 - y, colours[0]);
    }
    return close_tmp(f, tmp, path);
}

int plot_xy(const char *path, const char *title, const char *xlabel, const char *ylabel, const plot_series *s,
            size_t nseries, int lines)
{
    char *tmp;
    FILE *f = open_tmp(path, &tmp);
    if (!f) {
        free(tmp);
        return -1;
    }
    axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (size_t k = 0; k < nseries; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i]))
                continue;
            a.x0 = fmin(a.x0, s[k].x[i]);
            a.x1 = fmax(a.x1, s[k].x[i]);
            a.y0 = fmin(a.y0, s[k].y[i]);
            a.y1 = fmax(a.y1, s[k].y[i]);
        }
    if (!isfinite(a.x0))
        a = (axes){0, 1, 0, 1};
    frame(f, &a, title, xlabel, ylabel, 0);
    for (size_t k = 0; k < nseries; k++) {
        const char *col = colours[k % (sizeof colours / sizeof *colours)];
        /* later series dashed and with smaller markers, so that coinciding curves stay visible */
        static const char *dashes[] = {"none", "8 4", "3 3", "12 3 3 3"};
        const int r = lines ? (k < 3 ? 6 - 2 * (int)k : 2) : 3;
        if (lines && s[k].n > 1) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"%s\" points=\"",
                    col, dashes[k % 4]);
            for (size_t i = 0; i < s[k].n; i++)
                if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]))
                    fprintf(f, "%.1f,%.1f ", sx(&a, s[k].x[i]), sy(&a, s[k].y[i]));
            fputs("\"/>\n", f);
        }
        for (size_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" fill-opacity=\"%s\"/>\n",
                        sx(&a, s[k].x[i]), sy(&a, s[k].y[i]), r, col, lines ? "1" : "0.6");
        /* legend */
        if (lines)
            fprintf(f, "<line x1=\"%d\" y1=\"%zu\" x2=\"%d\" y2=\"%zu\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-dasharray=\"%s\"/><circle cx=\"%d\" cy=\"%zu\" r=\"%d\" fill=\"%s\"/>\n",
                    ML + 10, MT + 17 + 20 * k, ML + 38, MT + 17 + 20 * k, col, dashes[k % 4], ML + 24,
                    MT + 17 + 20 * k, r, col);
        else
            fprintf(f, "<rect x=\"%d\" y=\"%zu\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", ML + 12,
                    MT + 10 + 20 * k, col);
        fprintf(f, "<text x=\"%d\" y=\"%zu\">", ML + (lines ? 46 : 32), MT + 22 + 20 * k);
        escape(f, s[k].name);
        fputs("</text>\n", f);
    }
    return close_tmp(f, tmp, path);
}
