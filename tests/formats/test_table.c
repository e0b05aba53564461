/* test_table.c: the tensor table generated from the official config equals the spec's key list
 * (tests/formats/infotok_state_dict_keys.txt, a copy of the spec file) name for name and shape
 * for shape; the parameter count matches the spec's 123,142,646. Also pins the tiny config the
 * converter tests use to tests/formats/tiny_table.txt, which make_pt_fixtures.py reads. */
#include <ctype.h>

#include "infotok/weights.h"
#include "test_util.h"

typedef struct entry { char name[128]; int ndim; int64_t shape[IT_MAX_DIMS]; int seen; } entry;

/* Lines look like "name (a, b, c)" or "name (6,) int32 = [...]"; '#' starts a comment. */
static int load_list(const char *path, entry **out)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int n = 0, cap = 1024;
    entry *e = calloc((size_t)cap, sizeof *e);
    if (!f || !e) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(99);
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *sp = strchr(line, ' ');
        char *paren = strchr(line, '(');
        if (!sp || !paren || n == cap) {
            fprintf(stderr, "%s: bad line: %s", path, line);
            exit(99);
        }
        snprintf(e[n].name, sizeof e[n].name, "%.*s", (int)(sp - line), line);
        char *p = paren + 1;
        while (*p && *p != ')') {
            while (*p == ' ' || *p == ',')
                p++;
            if (isdigit((unsigned char)*p))
                e[n].shape[e[n].ndim++] = strtoll(p, &p, 10);
            else if (*p != ')')
                p++;
        }
        n++;
    }
    fclose(f);
    *out = e;
    return n;
}

static void compare(const it_tensor_table *t, const char *list)
{
    entry *e = NULL;
    int n = load_list(fixture(list), &e);
    CHECK((size_t)n == t->count);
    for (size_t i = 0; i < t->count; i++) {
        const it_tensor_spec *s = &t->specs[i];
        int found = 0;
        for (int j = 0; j < n && !found; j++) {
            if (strcmp(e[j].name, s->name) != 0)
                continue;
            found = 1;
            e[j].seen++;
            int same = e[j].ndim == s->ndim;
            for (int d = 0; same && d < s->ndim; d++)
                same = e[j].shape[d] == s->shape[d];
            if (!same) {
                char a[128];
                it_shape_format(a, sizeof a, s->ndim, s->shape);
                fprintf(stderr, "%s: %s has shape %s in the table\n", list, s->name, a);
                test_failures++;
            }
        }
        if (!found) {
            fprintf(stderr, "%s: table entry %s is not in the list\n", list, s->name);
            test_failures++;
        }
    }
    for (int j = 0; j < n; j++)
        if (e[j].seen != 1) {
            fprintf(stderr, "%s: %s appears %d times in the table\n", list, e[j].name, e[j].seen);
            test_failures++;
        }
    free(e);
}

int main(void)
{
    it_config off = it_config_official();
    it_tensor_table *t = NULL;
    CHECK_OK(it_tensor_table_build(&off, &t));
    if (!t)
        return 99;
    compare(t, "infotok_state_dict_keys.txt");
    CHECK(it_tensor_table_param_count(t) == 123142646);
    const it_tensor_spec *s = it_tensor_table_find(t, "quantizer.implicit_codebook");
    CHECK(s && s->kind == IT_TENSOR_CONST && s->shape[0] == 64000 && s->shape[1] == 6);
    s = it_tensor_table_find(t, "save_loss");
    CHECK(s && s->kind == IT_TENSOR_STAT);
    s = it_tensor_table_find(t, "temporal_embed");
    CHECK(s && s->kind == IT_TENSOR_PARAM && s->shape[0] == 49 && s->shape[1] == 256);
    CHECK(it_tensor_table_find(t, "encoder.patcher3d.wavelets") == NULL);
    it_tensor_table_free(&t);
    CHECK(t == NULL);

    /* The tiny config of the converter fixtures. */
    it_config tiny = off;
    tiny.channels = 4;
    tiny.channels_mult[0] = 1;
    tiny.channels_mult[1] = 2;
    tiny.channels_mult[2] = 2;
    tiny.num_res_blocks = 1;
    tiny.z_channels = tiny.vit_hidden = 8;
    tiny.vit_intermediate = 16;
    tiny.vit_enc_layers = tiny.vit_dec_layers = 1;
    tiny.vit_heads = 2;
    tiny.max_latent_frames = 3;
    CHECK_OK(it_tensor_table_build(&tiny, &t));
    if (t) {
        if (getenv("DUMP_TINY")) /* regenerates tiny_table.txt */
            for (size_t i = 0; i < t->count; i++) {
                printf("%s (", t->specs[i].name);
                for (int d = 0; d < t->specs[i].ndim; d++)
                    printf("%s%lld", d ? ", " : "", (long long)t->specs[i].shape[d]);
                printf("%s)%s\n", t->specs[i].ndim == 1 ? "," : "",
                       t->specs[i].kind == IT_TENSOR_PARAM ? "" :
                       t->specs[i].kind == IT_TENSOR_CONST ? " const" : " stat");
            }
        else
            compare(t, "tiny_table.txt");
        it_tensor_table_free(&t);
    }
    return test_result();
}
