/* read_stream.c: reading a token stream with libinfotok's C API: one line per video with
 * its id, status, windows and kept tokens (the same lines as read_stream.py).
 *   cc read_stream.c $(pkg-config --cflags --libs infotok) -o read_stream  (installed), or
 *   built by `make check` in the source tree. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "infotok/stream.h"
#include "infotok/core.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: read_stream STREAM.itok\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    it_stream_reader *r = NULL;
    if (!f || it_stream_reader_new(&r, f, argv[1]) < 0) {
        fprintf(stderr, "read_stream: %s: %s\n", argv[1], f ? it_error_message() : "cannot open");
        return 1;
    }
    unsigned windows = 0;
    unsigned long long tokens = 0;
    int type, rc;
    while ((rc = it_stream_next(r, &type)) > 0) {
        if (type == IT_REC_VIDEO) {
            windows = 0;
            tokens = 0;
        } else if (type == IT_REC_WINDOW) {
            const it_window_rec *w = it_stream_window(r);
            windows++;
            /* Without a rate every token is kept. */
            tokens += w->strategy ? w->kept : (unsigned long long)w->lt * w->lh * w->lw;
        } else if (type == IT_REC_VIDEO_END) {
            json_error_t err;
            json_t *end = json_loads(it_stream_json(r), 0, &err);
            printf("%s %s windows %u tokens %llu\n", json_string_value(json_object_get(end, "id")),
                   json_string_value(json_object_get(end, "status")), windows, tokens);
            json_decref(end);
        }
    }
    if (rc < 0)
        fprintf(stderr, "read_stream: %s\n", it_error_message());
    it_stream_reader_free(&r);
    fclose(f);
    return rc < 0 ? 1 : 0;
}
