/* encode.c: a video through the tokenizer, one window at a time, with the next window
 * decoded by a second thread (FFmpeg and padding) while the model runs on this one. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/encode.h"
#include "error_internal.h"
#include "infotok/rate.h"

/* A decoded, padded window handed from the decoding thread to the model. */
typedef struct slot {
    uint8_t *rgb;
    size_t cap;
    int64_t index, first;
    it_pad pad;
} slot;

typedef struct prefetch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    it_windower *wd;
    slot slots[2];
    int head, count, done, stop, rc;
    char message[1024]; /* the decoding thread's error message (messages are per thread) */
} prefetch;

static void *decode_thread(void *arg)
{
    prefetch *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == 2 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop, target = (p->head + p->count) % 2;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        const it_window *w;
        int r = it_windower_next(p->wd, &w);
        slot *s = &p->slots[target]; /* free: the model only reads slots counted as full */
        if (r > 0) {
            size_t n = (size_t)w->pad.pt * w->pad.ph * w->pad.pw * 3;
            if (n > s->cap) {
                free(s->rgb);
                s->rgb = malloc(n);
                s->cap = s->rgb ? n : 0;
                if (!s->rgb)
                    r = it_error_set(IT_E_NOMEM, "out of memory for a window");
            }
            if (r > 0) {
                memcpy(s->rgb, w->rgb, n);
                s->index = w->index;
                s->first = w->first;
                s->pad = w->pad;
            }
        }
        pthread_mutex_lock(&p->mu);
        if (r > 0) {
            p->count++;
        } else {
            p->done = 1;
            p->rc = r;
            if (r < 0)
                snprintf(p->message, sizeof p->message, "%s", it_error_message());
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (r <= 0)
            break;
    }
    return NULL;
}

/* Per-window scratch, grown to the largest window seen. */
typedef struct scratch {
    size_t nt;
    float *elbo;
    uint16_t *indices;
    uint8_t *keep;
} scratch;

static int scratch_fit(scratch *s, size_t nt)
{
    if (nt > s->nt) {
        free(s->elbo); free(s->indices); free(s->keep);
        s->elbo = malloc(nt * sizeof(float));
        s->indices = malloc(nt * sizeof(uint16_t));
        s->keep = malloc(nt);
        s->nt = s->elbo && s->indices && s->keep ? nt : 0;
        if (!s->nt)
            return it_error_set(IT_E_NOMEM, "out of memory for %zu tokens", nt);
    }
    return 0;
}

static void scratch_free(scratch *s)
{
    free(s->elbo); free(s->indices); free(s->keep);
}

/* 1 encode + 1 full-rate decode: codes, indices and the ELBO map of one window. */
static int run_window(it_model *m, const slot *w, uint64_t video_id, uint32_t ordinal,
                      double fps, const it_encode_opts *o, scratch *s, it_window_rec *rec)
{
    int rc = 0, lt, lh, lw;
    const it_pad *p = &w->pad;
    IT_TRY(it_model_latent_shape(m, p->pt, p->ph, p->pw, &lt, &lh, &lw));
    const size_t nt = (size_t)lt * lh * lw;
    IT_TRY(scratch_fit(s, nt));
    IT_TRY(it_model_tokenize(m, 1, p->pt, p->ph, p->pw, w->rgb, s->indices, s->elbo));
    memset(rec, 0, sizeof *rec);
    rec->video_id = video_id;
    rec->video_ordinal = ordinal;
    rec->window_index = (uint32_t)w->index;
    rec->first_frame = w->first;
    rec->t = p->t; rec->h = p->h; rec->w = p->w;
    rec->pt = p->pt; rec->ph = p->ph; rec->pw = p->pw;
    rec->t0 = p->t0; rec->h0 = p->h0; rec->w0 = p->w0;
    rec->lt = lt; rec->lh = lh; rec->lw = lw;
    rec->fps = fps;
    rec->indices = s->indices;
    rec->elbo = s->elbo;
    rec->elbo_mean = it_elbo_window_mean(s->elbo, nt);
    if (o->strategy == IT_STRATEGY_STATIC || o->strategy == IT_STRATEGY_ELBO)
        IT_TRY(it_rate_apply(rec, o->strategy, it_rate_for_window(o->strategy, o->avg_rate, 0, 0), s->keep));
done:
    return rc;
}

int it_encode_video(it_model *m, const it_source *src, uint64_t video_id, uint32_t ordinal,
                    const it_encode_opts *o, it_window_sink sink, void *user,
                    it_encode_result *result)
{
    int rc = 0, started = 0;
    it_video *v = NULL;
    scratch s = {0};
    prefetch p;
    memset(&p, 0, sizeof p);
    memset(result, 0, sizeof *result);
    IT_TRY(it_video_open(&v, src, &o->video));
    IT_TRY(it_windower_new(&p.wd, v, o->temporal_window, o->overlap));
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (pthread_create(&p.thread, NULL, decode_thread, &p) != 0)
        IT_FAIL(IT_E_INTERNAL, "cannot start the decoding thread");
    started = 1;
    const double fps = it_video_fps(v);
    int64_t last_end = 0;
    for (;;) {
        pthread_mutex_lock(&p.mu);
        while (p.count == 0 && !p.done)
            pthread_cond_wait(&p.cv, &p.mu);
        int have = p.count > 0;
        pthread_mutex_unlock(&p.mu);
        if (!have) {
            if (p.rc < 0)
                IT_FAIL(p.rc, "%s", p.message);
            break;
        }
        const slot *w = &p.slots[p.head];
        it_window_rec rec;
        IT_TRY(run_window(m, w, video_id, ordinal, fps, o, &s, &rec));
        last_end = w->first + w->pad.t;
        if (sink(user, &rec) != 0)
            IT_FAIL(IT_E_IO, "%s", it_error_message()[0] ? it_error_message() : "output failed");
        result->windows++;
        pthread_mutex_lock(&p.mu);
        p.head = (p.head + 1) % 2;
        p.count--;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    result->frames = last_end;
done:
    if (started) {
        pthread_mutex_lock(&p.mu);
        p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(p.thread, NULL);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
    }
    free(p.slots[0].rgb);
    free(p.slots[1].rgb);
    it_windower_free(&p.wd);
    it_video_close(&v);
    scratch_free(&s);
    return rc;
}
