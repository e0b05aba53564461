/* config.c: the model config (spec §3.1) as stored in a native weight file: parse, validate,
 * print. The schema is closed: every key is required and unknown keys are refused, so a file
 * for a different network cannot be half-understood. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "infotok/weights.h"

it_config it_config_official(void)
{
    it_config c = {
        .arch = "infotok-ours-4x8x8",
        .channels = 128,
        .channels_mult = {2, 4, 4},
        .num_res_blocks = 2,
        .z_channels = 256,
        .embedding_dim = 6,
        .levels = {8, 8, 8, 5, 5, 5},
        .patch_size = 2,
        .spatial_compression = 8,
        .temporal_compression = 4,
        .vit_hidden = 256,
        .vit_intermediate = 512,
        .vit_enc_layers = 8,
        .vit_dec_layers = 8,
        .vit_heads = 32,
        .rope_theta = 10000.0,
        .rms_norm_eps = 1e-5,
        .max_latent_frames = 49,
        .max_rope_size = 96,
        .norm_eps = 1e-6,
    };
    return c;
}

int64_t it_config_codebook_size(const it_config *cfg)
{
    int64_t n = 1;
    for (int i = 0; i < cfg->embedding_dim && i < IT_CONFIG_MAX_FSQ; i++)
        n *= cfg->levels[i];
    return n;
}

/* The integer keys, their place in the struct and their allowed range. The ranges are loose
 * sanity bounds (a hostile file must not make the table or the network allocate absurdly);
 * the fixed parts are checked separately below. */
typedef struct int_key { const char *name; size_t off; int min, max; } int_key;
#define IK(f, lo, hi) {#f, offsetof(it_config, f), lo, hi}
static const int_key int_keys[] = {
    IK(channels, 1, 4096),
    IK(num_res_blocks, 1, 16),
    IK(z_channels, 1, 65536),
    IK(embedding_dim, 1, IT_CONFIG_MAX_FSQ),
    IK(patch_size, 1, 16),
    IK(spatial_compression, 1, 64),
    IK(temporal_compression, 1, 64),
    IK(vit_hidden, 1, 65536),
    IK(vit_intermediate, 1, 1 << 20),
    IK(vit_enc_layers, 1, 256),
    IK(vit_dec_layers, 1, 256),
    IK(vit_heads, 1, 4096),
    IK(max_latent_frames, 1, 1 << 16),
    IK(max_rope_size, 1, 1 << 16),
};
typedef struct real_key { const char *name; size_t off; double min, max; } real_key;
#define RK(f, lo, hi) {#f, offsetof(it_config, f), lo, hi}
static const real_key real_keys[] = {
    RK(rope_theta, 1.0, 1e12),
    RK(rms_norm_eps, 1e-30, 1.0),
    RK(norm_eps, 1e-30, 1.0),
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int it_config_validate(const it_config *c, const char *what)
{
    int rc = 0;
    static const int fixed_levels[6] = {8, 8, 8, 5, 5, 5};
    if (strcmp(c->arch, "infotok-ours-4x8x8") != 0)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: arch \"%.64s\" is not supported (expected \"infotok-ours-4x8x8\")",
                what, c->arch);
    for (size_t i = 0; i < NELEM(int_keys); i++) {
        int v = *(const int *)((const char *)c + int_keys[i].off);
        if (v < int_keys[i].min || v > int_keys[i].max)
            IT_FAIL(IT_E_FORMAT, "%s: %s = %d is out of range [%d, %d]", what, int_keys[i].name, v,
                    int_keys[i].min, int_keys[i].max);
    }
    for (size_t i = 0; i < NELEM(real_keys); i++) {
        double v = *(const double *)((const char *)c + real_keys[i].off);
        if (!(v >= real_keys[i].min && v <= real_keys[i].max))
            IT_FAIL(IT_E_FORMAT, "%s: %s = %g is out of range [%g, %g]", what, real_keys[i].name, v,
                    real_keys[i].min, real_keys[i].max);
    }
    for (int i = 0; i < IT_CONFIG_RESOLUTIONS; i++)
        if (c->channels_mult[i] < 1 || c->channels_mult[i] > 64 ||
            (int64_t)c->channels * c->channels_mult[i] > 65536)
            IT_FAIL(IT_E_FORMAT, "%s: channels_mult[%d] = %d is out of range [1, 64] (or channels x it exceeds 65536)",
                    what, i, c->channels_mult[i]);
    /* Geometry the network code implements: Haar patch 2, then two spatial and one temporal
     * downsampling stages over three levels (spec §3.3). */
    if (c->patch_size != 2 || c->spatial_compression != 8 || c->temporal_compression != 4)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: patch_size/spatial_compression/temporal_compression = %d/%d/%d; only 2/8/4 is supported",
                what, c->patch_size, c->spatial_compression, c->temporal_compression);
    if (c->z_channels != c->vit_hidden)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: z_channels (%d) must equal vit_hidden (%d): the ViT projections are identities",
                what, c->z_channels, c->vit_hidden);
    if (c->vit_hidden % c->vit_heads != 0 || (c->vit_hidden / c->vit_heads) % 4 != 0)
        IT_FAIL(IT_E_FORMAT, "%s: vit_hidden (%d) / vit_heads (%d) must be a whole multiple of 4 (2D RoPE rotates pairs per axis)",
                what, c->vit_hidden, c->vit_heads);
    if (c->embedding_dim != 6)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: embedding_dim = %d; only 6 (levels 8,8,8,5,5,5) is supported", what,
                c->embedding_dim);
    for (int i = 0; i < 6; i++)
        if (c->levels[i] != fixed_levels[i])
            IT_FAIL(IT_E_UNSUPPORTED, "%s: levels[%d] = %d; only levels 8,8,8,5,5,5 are supported", what, i,
                    c->levels[i]);
done:
    return rc;
}

static int get_int(json_t *v, const char *what, const char *key, int *out)
{
    if (!json_is_integer(v))
        return it_error_set(IT_E_FORMAT, "%s: \"%s\" must be an integer", what, key);
    json_int_t x = json_integer_value(v);
    if (x < -2147483647 || x > 2147483647)
        return it_error_set(IT_E_FORMAT, "%s: \"%s\" = %lld is out of range", what, key, (long long)x);
    *out = (int)x;
    return 0;
}

static int get_int_array(json_t *v, const char *what, const char *key, int *out, int min_n,
                         int max_n, int *n)
{
    if (!json_is_array(v) || json_array_size(v) < (size_t)min_n || json_array_size(v) > (size_t)max_n)
        return it_error_set(IT_E_FORMAT, "%s: \"%s\" must be an array of %d%s%d integers", what, key,
                            min_n, min_n == max_n ? "" : " to ", min_n == max_n ? 0 : max_n);
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s[%zu]", key, i);
        int rc = get_int(json_array_get(v, i), what, sub, &out[i]);
        if (rc < 0)
            return rc;
    }
    *n = (int)json_array_size(v);
    return 0;
}

int it_config_parse(it_config *cfg, const char *json, size_t len, const char *what)
{
    int rc = 0;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    it_config c;
    memset(&c, 0, sizeof c);
    int seen_arch = 0, seen_mult = 0, seen_levels = 0, nlevels = 0, nmult = 0;
    unsigned seen_int = 0, seen_real = 0;

    if (!root)
        IT_FAIL(IT_E_FORMAT, "%s: not valid JSON: %s (at byte %d)", what, jerr.text, jerr.position);
    if (!json_is_object(root))
        IT_FAIL(IT_E_FORMAT, "%s: not a JSON object", what);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        size_t i;
        if (strcmp(key, "arch") == 0) {
            if (!json_is_string(v) || json_string_length(v) >= sizeof c.arch)
                IT_FAIL(IT_E_FORMAT, "%s: \"arch\" must be a string of under %zu bytes", what, sizeof c.arch);
            strcpy(c.arch, json_string_value(v));
            seen_arch = 1;
            continue;
        }
        if (strcmp(key, "channels_mult") == 0) {
            IT_TRY(get_int_array(v, what, key, c.channels_mult, IT_CONFIG_RESOLUTIONS,
                                 IT_CONFIG_RESOLUTIONS, &nmult));
            seen_mult = 1;
            continue;
        }
        if (strcmp(key, "levels") == 0) {
            IT_TRY(get_int_array(v, what, key, c.levels, 1, IT_CONFIG_MAX_FSQ, &nlevels));
            seen_levels = 1;
            continue;
        }
        for (i = 0; i < NELEM(int_keys); i++)
            if (strcmp(key, int_keys[i].name) == 0)
                break;
        if (i < NELEM(int_keys)) {
            IT_TRY(get_int(v, what, key, (int *)((char *)&c + int_keys[i].off)));
            seen_int |= 1u << i;
            continue;
        }
        for (i = 0; i < NELEM(real_keys); i++)
            if (strcmp(key, real_keys[i].name) == 0)
                break;
        if (i < NELEM(real_keys)) {
            if (!json_is_number(v))
                IT_FAIL(IT_E_FORMAT, "%s: \"%s\" must be a number", what, key);
            *(double *)((char *)&c + real_keys[i].off) = json_number_value(v);
            seen_real |= 1u << i;
            continue;
        }
        IT_FAIL(IT_E_FORMAT, "%s: unknown key \"%.64s\"", what, key);
    }
    if (!seen_arch)
        IT_FAIL(IT_E_FORMAT, "%s: key \"arch\" is missing", what);
    if (!seen_mult)
        IT_FAIL(IT_E_FORMAT, "%s: key \"channels_mult\" is missing", what);
    if (!seen_levels)
        IT_FAIL(IT_E_FORMAT, "%s: key \"levels\" is missing", what);
    for (size_t i = 0; i < NELEM(int_keys); i++)
        if (!(seen_int & (1u << i)))
            IT_FAIL(IT_E_FORMAT, "%s: key \"%s\" is missing", what, int_keys[i].name);
    for (size_t i = 0; i < NELEM(real_keys); i++)
        if (!(seen_real & (1u << i)))
            IT_FAIL(IT_E_FORMAT, "%s: key \"%s\" is missing", what, real_keys[i].name);
    if (nlevels != c.embedding_dim)
        IT_FAIL(IT_E_FORMAT, "%s: \"levels\" has %d entries but embedding_dim is %d", what, nlevels,
                c.embedding_dim);
    IT_TRY(it_config_validate(&c, what));
    *cfg = c;
done:
    json_decref(root);
    return rc;
}

/* The shortest decimal that reads back as the same double, so 1e-05 stays "1e-05". */
static void fmt_double(char *buf, size_t size, double v)
{
    /* Whole numbers as "10000.0": still a JSON real, and as the schema spells them. */
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.1f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

int it_config_to_json(const it_config *c, char **json)
{
    char theta[40], rms[40], neps[40];
    char mult[64], lev[96];
    size_t n = 0;
    fmt_double(theta, sizeof theta, c->rope_theta);
    fmt_double(rms, sizeof rms, c->rms_norm_eps);
    fmt_double(neps, sizeof neps, c->norm_eps);
    snprintf(mult, sizeof mult, "[%d,%d,%d]", c->channels_mult[0], c->channels_mult[1],
             c->channels_mult[2]);
    n = (size_t)snprintf(lev, sizeof lev, "[");
    for (int i = 0; i < c->embedding_dim && i < IT_CONFIG_MAX_FSQ; i++)
        n += (size_t)snprintf(lev + n, sizeof lev - n, "%s%d", i ? "," : "", c->levels[i]);
    snprintf(lev + n, sizeof lev - n, "]");

    /* Print arch through jansson so that any string stays valid JSON. */
    json_t *a = json_string(c->arch);
    char *arch_json = a ? json_dumps(a, JSON_ENCODE_ANY) : NULL;
    json_decref(a);
    if (!arch_json)
        return it_error_set(IT_E_INVALID, "config: arch is not valid UTF-8");

    const char *fmt = "{\"arch\":%s,\"channels\":%d,\"channels_mult\":%s,\"num_res_blocks\":%d,"
                      "\"z_channels\":%d,\"embedding_dim\":%d,\"levels\":%s,\"patch_size\":%d,"
                      "\"spatial_compression\":%d,\"temporal_compression\":%d,\"vit_hidden\":%d,"
                      "\"vit_intermediate\":%d,\"vit_enc_layers\":%d,\"vit_dec_layers\":%d,"
                      "\"vit_heads\":%d,\"rope_theta\":%s,\"rms_norm_eps\":%s,"
                      "\"max_latent_frames\":%d,\"max_rope_size\":%d,\"norm_eps\":%s}";
#define CFG_ARGS arch_json, c->channels, mult, c->num_res_blocks, c->z_channels, c->embedding_dim, \
        lev, c->patch_size, c->spatial_compression, c->temporal_compression, c->vit_hidden,        \
        c->vit_intermediate, c->vit_enc_layers, c->vit_dec_layers, c->vit_heads, theta, rms,       \
        c->max_latent_frames, c->max_rope_size, neps
    int len = snprintf(NULL, 0, fmt, CFG_ARGS);
    char *s = len < 0 ? NULL : malloc((size_t)len + 1);
    if (!s) {
        free(arch_json);
        return it_error_set(IT_E_NOMEM, "out of memory printing the config");
    }
    snprintf(s, (size_t)len + 1, fmt, CFG_ARGS);
#undef CFG_ARGS
    free(arch_json);
    *json = s;
    return 0;
}
