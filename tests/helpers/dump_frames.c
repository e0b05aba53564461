/* dump_frames: a test helper that decodes a source with the library and writes what it
 * sees, so shell tests can compare it with the ffmpeg CLI.
 *   dump_frames [-s SHORT] [-c WxH] [-m MEMBER] PATH            raw RGB24 frames on stdout
 *   dump_frames -w TW -o OV [-m MEMBER] PATH                    one line per window
 *   dump_frames -t [-m MEMBER] PATH                             one timestamp per line */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "infotok/core.h"

static int fail(const char *what, int rc)
{
    fprintf(stderr, "dump_frames: %s: %s\n", what, it_error_message()[0] ? it_error_message() : it_strerror(rc));
    return 3;
}

int main(int argc, char **argv)
{
    it_video_opts opts = {.threads = 2};
    const char *member = NULL;
    int tw = 0, ov = 0, times = 0, c;
    while ((c = getopt(argc, argv, "s:c:m:w:o:t")) != -1) {
        switch (c) {
        case 's': opts.short_side = atoi(optarg); break;
        case 'c':
            if (sscanf(optarg, "%dx%d", &opts.crop_w, &opts.crop_h) != 2)
                return 2;
            break;
        case 'm': member = optarg; break;
        case 'w': tw = atoi(optarg); break;
        case 'o': ov = atoi(optarg); break;
        case 't': times = 1; break;
        default: return 2;
        }
    }
    if (optind + 1 != argc)
        return 2;
    it_log_set_level(IT_LOG_WARN);
    it_source src = {argv[optind], member};
    it_video *v = NULL;
    int rc = it_video_open(&v, &src, &opts);
    if (rc < 0)
        return fail("open", rc);
    int status = 0;
    if (tw > 0) {
        it_windower *wd = NULL;
        const it_window *win;
        if ((rc = it_windower_new(&wd, v, tw, ov)) < 0)
            return fail("windower", rc);
        while ((rc = it_windower_next(wd, &win)) > 0) {
            const it_pad *p = &win->pad;
            /* A checksum of the padded pixels pins padding content, not only geometry. */
            uint64_t sum = 0;
            size_t n = (size_t)p->pt * p->ph * p->pw * 3;
            for (size_t i = 0; i < n; i++)
                sum = sum * 31 + win->rgb[i];
            printf("window %lld first %lld t %d pad %dx%dx%d crop %d,%d,%d last %d sum %016llx\n",
                   (long long)win->index, (long long)win->first, p->t, p->pt, p->ph, p->pw,
                   p->t0, p->h0, p->w0, win->last, (unsigned long long)sum);
        }
        if (rc < 0)
            status = fail("window", rc);
        it_windower_free(&wd);
    } else {
        size_t bytes = (size_t)it_video_width(v) * it_video_height(v) * 3;
        uint8_t *rgb = malloc(bytes);
        double pts;
        if (!rgb)
            return 3;
        fprintf(stderr, "size %dx%d\n", it_video_width(v), it_video_height(v));
        while ((rc = it_video_read(v, rgb, &pts)) > 0) {
            if (times)
                printf("%.6f\n", pts);
            else if (fwrite(rgb, 1, bytes, stdout) != bytes)
                return 3;
        }
        if (rc < 0)
            status = fail("read", rc);
        free(rgb);
    }
    it_video_close(&v);
    return status;
}
