/* stats_plot.h: small hand-written SVG charts for it-stats --plot (no plotting library). */
#ifndef IT_TOOLS_STATS_PLOT_H
#define IT_TOOLS_STATS_PLOT_H

#include <stddef.h>

typedef struct plot_series {
    const char *name;
    const double *x, *y;
    size_t n;
} plot_series;

/* Bars: counts[i] over [lo + i*width, lo + (i+1)*width). */
int plot_histogram(const char *path, const char *title, const char *xlabel, double lo, double width,
                   const double *counts, size_t nbins);
/* Points (lines = 0) or polylines with markers (lines = 1), one colour per series, a legend. */
int plot_xy(const char *path, const char *title, const char *xlabel, const char *ylabel, const plot_series *s,
            size_t nseries, int lines);

#endif
