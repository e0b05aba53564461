/* tokenize_one.c: one video to a token shard with libinfotok's public API alone: what
 *   it-scan VIDEO | it-encode - | it-pack -o PREFIX -
 * does with their defaults (windows of 33 frames overlapping by 5, global_elbo at an average
 * rate of 0.5 over this one-video corpus), in one program:
 *   cc tokenize_one.c $(pkg-config --cflags --libs infotok) -o tokenize_one
 *   ./tokenize_one VIDEO OUT.itshard          (the bundled model, or $INFOTOK_MODEL)
 *   ./tokenize_one --model-path               (which weights it would load) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infotok/infotok.h>

/* The windows of the video, kept until the corpus statistic is known (global_elbo). */
typedef struct windows {
    it_window_rec *rec;
    size_t n, cap;
} windows;

static int keep_window(void *user, const it_window_rec *r)
{
    windows *w = user;
    const size_t nt = (size_t)r->lt * r->lh * r->lw;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        it_window_rec *p = realloc(w->rec, cap * sizeof *p);
        if (!p)
            return it_error_set(IT_E_NOMEM, "out of memory");
        w->rec = p;
        w->cap = cap;
    }
    it_window_rec *c = &w->rec[w->n];
    *c = *r; /* the record's arrays belong to the encoder: copy them */
    c->indices = malloc(nt * sizeof *c->indices);
    c->elbo = malloc(nt * sizeof *c->elbo);
    c->keep = malloc(nt);
    if (!c->indices || !c->elbo || !c->keep) {
        free(c->indices), free(c->elbo), free(c->keep);
        return it_error_set(IT_E_NOMEM, "out of memory");
    }
    memcpy(c->indices, r->indices, nt * sizeof *c->indices);
    memcpy(c->elbo, r->elbo, nt * sizeof *c->elbo);
    w->n++;
    return 0;
}

/* The stream header it-encode would write for this model and these options. */
static char *header_json(it_model *m, const it_encode_opts *eo, float avg_rate)
{
    it_stream_header h = {0};
    char *json = NULL;
    memcpy(h.model_hash, it_model_hash(m), 17);
    h.model_params = it_model_param_count(m);
    h.tool = "tokenize_one";
    h.version = (char *)it_version();
    h.temporal = eo->temporal_window;
    h.overlap = eo->overlap;
    h.strategy = IT_STRATEGY_GLOBAL_ELBO;
    h.avg_rate = avg_rate;
    h.precision = it_model_precision(m);
    if (it_config_to_json(it_model_config(m), &h.model_config) == 0)
        it_stream_header_format(&h, &json);
    free(h.model_config);
    return json;
}

static int tokenize(const char *video, const char *out)
{
    const it_source src = {video, NULL};
    it_manifest_entry e = {0};
    it_model *m = NULL;
    it_shard_writer *w = NULL;
    windows ws = {0};
    char *line = NULL, *hdr = NULL, vjson[8192], ejson[256];
    const it_encode_opts eo = {33, 5, {0}, IT_STRATEGY_NONE, 0};
    it_encode_result res;
    uint64_t id;
    int rc;

    /* it-scan: probe the video into a manifest line */
    it_source_id(&src, e.id);
    e.path = (char *)video;
    e.ok = 1;
    if ((rc = it_probe(&src, 0, &e.info)) < 0 || (rc = it_manifest_format(&e, &line)) < 0)
        goto done;
    /* it-encode: every window once (full-rate tokens and the ELBO map) */
    if ((rc = it_model_load_opts(&m, it_default_model_path(), NULL)) < 0 || (rc = it_video_id_parse(e.id, &id)) < 0 ||
        (rc = it_encode_video(m, &src, id, 0, &eo, keep_window, &ws, &res)) < 0)
        goto done;
    /* global_elbo over this corpus: its windows' statistic */
    it_allocation a = {IT_STRATEGY_GLOBAL_ELBO, 0.5f, {0, 0}};
    for (size_t i = 0; i < ws.n; i++)
        it_elbo_stat_add(&a.stat, ws.rec[i].elbo_mean);
    /* it-pack: one shard */
    snprintf(vjson, sizeof vjson, "%.*s,\"ordinal\":0}", (int)strlen(line) - 1, line);
    snprintf(ejson, sizeof ejson, "{\"ordinal\":0,\"id\":\"%s\",\"status\":\"ok\",\"windows\":%u,\"frames\":%lld}", e.id,
             res.windows, (long long)res.frames);
    if (!(hdr = header_json(m, &eo, a.avg_rate))) {
        rc = it_error_set(IT_E_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = it_shard_writer_new(&w, out, hdr, NULL)) < 0 || (rc = it_shard_write_video(w, vjson)) < 0)
        goto done;
    for (size_t i = 0; i < ws.n && rc == 0; i++) {
        it_window_rec r = ws.rec[i];
        if ((rc = it_allocation_apply(&a, &r, r.keep)) == 0)
            rc = it_shard_write_window(w, &r);
    }
    const it_alloc_rec ar = it_allocation_record(&a);
    if (rc == 0 && (rc = it_shard_write_video_end(w, ejson)) == 0 && (rc = it_shard_write_alloc(w, &ar)) == 0)
        rc = it_shard_writer_finish(&w);
done:
    if (rc < 0)
        fprintf(stderr, "tokenize_one: %s\n", it_error_message()[0] ? it_error_message() : it_strerror(rc));
    it_shard_writer_abort(&w);
    for (size_t i = 0; i < ws.n; i++)
        free(ws.rec[i].indices), free(ws.rec[i].elbo), free(ws.rec[i].keep);
    free(ws.rec);
    free(hdr);
    free(line);
    it_model_free(&m);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--model-path") == 0) {
        puts(it_default_model_path());
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: tokenize_one VIDEO OUT.itshard | --model-path\n");
        return 2;
    }
    return tokenize(argv[1], argv[2]);
}
