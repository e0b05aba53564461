/* test_rate: rate allocation against the PyTorch reference's cases (tests/model/fixtures/
 * ops.safetensors, made by make_fixtures.py from the official formulas), plus the corpus
 * statistic's order independence. Rates, bounds and masks must match exactly: they are fp32
 * computations in the same order as the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/core.h"
#include "infotok/weights.h"
#include "kernels/it_kernels.h"
#include "infotok/rate.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static it_weights *ops;

static float *f32(const char *name, int64_t *n)
{
    const it_tensor_view *t = it_weights_find(ops, name);
    if (!t) {
        fprintf(stderr, "fixture tensor '%s' missing\n", name);
        exit(99);
    }
    float *v = malloc(sizeof(float) * (size_t)t->numel);
    if (!v || it_tensor_to_f32(t, v) < 0)
        exit(99);
    if (n)
        *n = t->numel;
    return v;
}

static void mask_cases(const char *kind)
{
    char name[64];
    int64_t nrates, nt;
    float *rates = f32("mask_rates", &nrates);
    snprintf(name, sizeof name, "mask_%s_loss", kind);
    float *loss = f32(name, &nt);
    snprintf(name, sizeof name, "mask_%s_bound", kind);
    float *bounds = f32(name, NULL);
    snprintf(name, sizeof name, "mask_%s_keep", kind);
    const uint8_t *want = it_weights_find(ops, name)->data;
    uint8_t *keep = malloc((size_t)nt);
    uint16_t *idx = calloc((size_t)nt, sizeof *idx);
    for (int64_t r = 0; r < nrates; r++) {
        it_window_rec rec = {.lt = 3, .lh = 4, .lw = 5, .elbo = loss, .indices = idx};
        CHECK(it_rate_apply(&rec, IT_STRATEGY_STATIC, rates[r], keep) == 0, "apply");
        CHECK(memcmp(keep, want + r * nt, (size_t)nt) == 0, "%s: mask at rate %g differs", kind, (double)rates[r]);
        size_t k = 0;
        for (int64_t i = 0; i < nt; i++)
            k += keep[i];
        CHECK(rec.kept == k, "%s: kept %u, mask has %zu", kind, rec.kept, k);
        float bound;
        size_t kept;
        it_quantile_mask((size_t)nt, loss, rates[r], NULL, &kept, &bound);
        CHECK(bound == bounds[r], "%s: bound at rate %g: %.9g, reference %.9g", kind, (double)rates[r], (double)bound, (double)bounds[r]);
    }
    free(rates); free(loss); free(bounds); free(keep); free(idx);
}

int main(void)
{
    char path[4096];
    const char *src = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/tests/model/fixtures/ops.safetensors", src ? src : ".");
    if (it_weights_open(&ops, path) < 0) {
        fprintf(stderr, "%s\n", it_error_message());
        return 99;
    }
    /* global_elbo: clip(avg * window / corpus, 0.0625, 1) in fp32. */
    int64_t n;
    float *cases = f32("rate_cases", &n), *want = f32("rate_global_elbo", NULL);
    for (int64_t i = 0; i < n / 3; i++) {
        float r = it_rate_for_window(IT_STRATEGY_GLOBAL_ELBO, cases[3 * i], cases[3 * i + 1], cases[3 * i + 2]);
        CHECK(r == want[i], "global_elbo case %lld: %.9g, reference %.9g", (long long)i, (double)r, (double)want[i]);
        CHECK(it_rate_for_window(IT_STRATEGY_STATIC, cases[3 * i], cases[3 * i + 1], cases[3 * i + 2]) == cases[3 * i],
              "static rate is the average rate, unclipped");
    }
    free(cases);
    free(want);
    mask_cases("distinct");
    mask_cases("ties");

    /* Ties at the bound are all dropped; rate 1 still drops the minimum. */
    float flat[10] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    uint8_t keep[10];
    uint16_t idx[10] = {0};
    it_window_rec rec = {.lt = 1, .lh = 2, .lw = 5, .elbo = flat, .indices = idx};
    CHECK(it_rate_apply(&rec, IT_STRATEGY_STATIC, 0.5f, keep) == 0 && rec.kept == 0, "all ties: kept %u", rec.kept);
    float ramp[10] = {0.3f, 0.1f, 0.9f, 0.2f, 0.8f, 0.4f, 0.7f, 0.6f, 0.5f, 0.05f};
    rec.elbo = ramp;
    CHECK(it_rate_apply(&rec, IT_STRATEGY_STATIC, 1.0f, keep) == 0 && rec.kept == 9 && keep[9] == 0,
          "rate 1 drops the minimum: kept %u", rec.kept);
    CHECK(it_rate_apply(&rec, IT_STRATEGY_STATIC, 1.5f, keep) < 0, "a rate above 1 is refused");

    /* The corpus statistic is exact: any order, any split, the same sum. */
    it_elbo_stat a = {0, 0}, b = {0, 0}, c = {0, 0}, whole = {0, 0};
    unsigned seed = 12345;
    float vals[1000];
    for (int i = 0; i < 1000; i++) {
        seed = seed * 1103515245u + 12345u;
        vals[i] = (float)((seed >> 8) & 0xffff) / 65536.0f * 0.4f;
        it_elbo_stat_add(&whole, vals[i]);
    }
    for (int i = 999; i >= 0; i--)
        it_elbo_stat_add(i % 3 ? &a : &b, vals[i]);
    it_elbo_stat_merge(&c, &b);
    it_elbo_stat_merge(&c, &a);
    CHECK(c.count == whole.count && c.sum_fixed == whole.sum_fixed, "split sums differ");
    CHECK(it_elbo_stat_mean(&c) == it_elbo_stat_mean(&whole), "means differ");
    double exact = 0;
    for (int i = 0; i < 1000; i++)
        exact += vals[i];
    CHECK(fabs(it_elbo_stat_mean(&whole) - exact / 1000) < 1e-7, "mean %.9g, exact %.9g", (double)it_elbo_stat_mean(&whole), exact / 1000);

    int s;
    CHECK(it_strategy_parse("global_elbo", &s) == 0 && s == IT_STRATEGY_GLOBAL_ELBO, "parse");
    CHECK(it_strategy_parse("uniform", &s) == IT_E_INVALID, "unknown strategy refused");
    it_weights_close(&ops);
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
