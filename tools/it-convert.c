/* it-convert: convert InfoTok weights (the official PyTorch checkpoint, or a safetensors file)
 * to the native weight format, checking every tensor against the config's table first. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/weights.h"
#include "infotok/core.h"
#include "tools/common.h"

static const char usage_text[] =
    "Usage: it-convert [options] IN OUT\n"
    "Convert InfoTok weights to the native format (see infotok-weights(5)).\n"
    "\n"
    "IN is the official PyTorch checkpoint (a torch.save zip such as infotok_mse.pt; only its\n"
    "\"network.*\" tensors are read, and no code in it is run) or a native/safetensors file.\n"
    "Every tensor the config requires must be present with its exact shape, and nothing else;\n"
    "OUT is written only when the check passes, and appears complete or not at all.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    the model config as JSON [the config stored in IN, else the\n"
    "                       official OURS4x8x8-mse-256p-88 config]\n"
    "  -t, --dtype TYPE     store float tensors as f32 or bf16 [as they are in IN]\n"
    "  -b, --keep-buffers   also store the FSQ buffers and training statistics, which the\n"
    "                       loader rebuilds or ignores [left out]\n"
    "  -m, --meta KEY=VALUE add a metadata string to OUT (repeatable)\n"
    "  -n, --dry-run        check IN only; write nothing (OUT may be omitted)\n"
    "  -q, --quiet          no summary on stderr\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show versions and exit\n"
    "\n"
    "Exit status: 0 converted (or checked), 2 usage error, 3 fatal error (IN unreadable or\n"
    "refused, OUT not written).\n";

enum { OPT_VERSION = 256 };

typedef struct counts { size_t n[IT_DTYPE_COUNT]; } counts;

static void describe(const counts *c, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < IT_DTYPE_COUNT; d++)
        if (c->n[d] && len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%zu %s", len ? ", " : "", c->n[d],
                                    it_dtype_name((it_dtype)d));
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int main(int argc, char **argv)
{
    tool_init("it-convert");
    const char *config_path = NULL, *dtype_arg = NULL;
    int keep_buffers = 0, dry_run = 0, quiet = 0;
    const char **meta = NULL;
    size_t nmeta = 0;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"dtype", required_argument, NULL, 't'},
        {"keep-buffers", no_argument, NULL, 'b'}, {"meta", required_argument, NULL, 'm'},
        {"dry-run", no_argument, NULL, 'n'},      {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:t:bm:nqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 't': dtype_arg = optarg; break;
        case 'b': keep_buffers = 1; break;
        case 'm': {
            const char **m = realloc(meta, (nmeta + 1) * sizeof *m);
            if (!m) {
                print_error("out of memory");
                return EXIT_FATAL;
            }
            meta = m;
            meta[nmeta++] = optarg;
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                free(meta);
                return usage_error("--meta needs KEY=VALUE, got '%s'", optarg);
            }
            break;
        }
        case 'n': dry_run = 1; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_text, stdout); free(meta); return EXIT_OK;
        case OPT_VERSION: print_version(); free(meta); return EXIT_OK;
        default: free(meta); return usage_error("unknown option");
        }
    }
    int have_dtype = dtype_arg != NULL;
    it_dtype out_dtype = IT_DTYPE_F32;
    if (dtype_arg) {
        if (strcmp(dtype_arg, "f32") == 0)
            out_dtype = IT_DTYPE_F32;
        else if (strcmp(dtype_arg, "bf16") == 0)
            out_dtype = IT_DTYPE_BF16;
        else {
            free(meta);
            return usage_error("--dtype must be f32 or bf16, not '%s'", dtype_arg);
        }
    }
    if (argc - optind != 2 && !(dry_run && argc - optind == 1)) {
        free(meta);
        return usage_error(dry_run ? "expected IN [OUT]" : "expected IN and OUT");
    }
    const char *in = argv[optind], *out = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (out && strcmp(out, "-") == 0) {
        free(meta);
        return usage_error("OUT must be a file: the native format is mapped into memory, not streamed");
    }

    int status = EXIT_FATAL, rc;
    it_weights *w = NULL;
    it_tensor_table *table = NULL;
    it_weights_writer *wr = NULL;
    char *json = NULL;
    it_config cfg, stored;
    const char *cfg_source = "the official config";

    if ((rc = it_weights_open_any(&w, in)) < 0) {
        print_lib_error(rc, "cannot read weights");
        goto done;
    }
    int has_stored = !it_weights_is_pt(w) && it_weights_metadata(w, "config") != NULL;
    if (has_stored && (rc = it_weights_config(w, &stored)) < 0) {
        print_lib_error(rc, "cannot use the config in %s", in);
        goto done;
    }
    if (config_path) {
        FILE *f = fopen(config_path, "rb");
        size_t len = 0;
        json = malloc(1 << 20);
        if (f && json)
            len = fread(json, 1, 1 << 20, f);
        int err = !f || !json || ferror(f) || !feof(f);
        if (f)
            fclose(f);
        if (err) {
            print_error("%s: cannot read the config (missing, unreadable or over 1 MiB)", config_path);
            goto done;
        }
        if ((rc = it_config_parse(&cfg, json, len, config_path)) < 0) {
            print_lib_error(rc, "bad config");
            goto done;
        }
        if (has_stored && memcmp(&cfg, &stored, sizeof cfg) != 0) {
            print_error("%s holds a different config than %s; leave out --config to keep it", in,
                        config_path);
            goto done;
        }
        cfg_source = config_path;
    } else if (has_stored) {
        cfg = stored;
        cfg_source = "the config stored in the input";
    } else {
        cfg = it_config_official();
    }

    if ((rc = it_tensor_table_build(&cfg, &table)) < 0) {
        print_lib_error(rc, "bad config");
        goto done;
    }
    if ((rc = it_weights_check(w, table)) < 0) {
        print_lib_error(rc, "refused (checked against %s)", cfg_source);
        goto done;
    }

    counts in_counts = {{0}}, out_counts = {{0}};
    int64_t params = 0;
    size_t nout = 0, nbytes = 0;
    for (size_t i = 0; i < it_weights_count(w); i++) {
        const it_tensor_view *t = it_weights_tensor(w, i);
        in_counts.n[t->dtype]++;
    }
    if (!dry_run) {
        if ((rc = it_weights_writer_new(&wr, out)) < 0 ||
            (rc = it_weights_writer_set_config(wr, &cfg)) < 0) {
            print_lib_error(rc, "cannot write %s", out);
            goto done;
        }
        /* Carry the input's own metadata over, so that converting a converted file again gives
         * the same file. */
        int has_source = 0;
        for (size_t i = 0; i < it_weights_metadata_count(w); i++) {
            const char *k, *v;
            it_weights_metadata_at(w, i, &k, &v);
            if (!strcmp(k, "format") || !strcmp(k, "format_version") || !strcmp(k, "config"))
                continue;
            has_source |= strcmp(k, "converted_from") == 0;
            if ((rc = it_weights_writer_set_metadata(wr, k, v)) < 0) {
                print_lib_error(rc, "metadata");
                goto done;
            }
        }
        if (!has_source && (rc = it_weights_writer_set_metadata(wr, "converted_from", base_name(in))) < 0) {
            print_lib_error(rc, "metadata");
            goto done;
        }
        for (size_t i = 0; i < nmeta; i++) {
            char key[256];
            const char *eq = strchr(meta[i], '=');
            snprintf(key, sizeof key, "%.*s", (int)(eq - meta[i]), meta[i]);
            if ((rc = it_weights_writer_set_metadata(wr, key, eq + 1)) < 0) {
                print_lib_error(rc, "--meta %s", meta[i]);
                goto done;
            }
        }
    }
    for (size_t i = 0; i < table->count; i++) {
        const it_tensor_spec *s = &table->specs[i];
        const it_tensor_view *t = it_weights_find(w, s->name);
        if (!t || (s->kind != IT_TENSOR_PARAM && !keep_buffers))
            continue;
        it_dtype dt = have_dtype && it_dtype_is_float(t->dtype) ? out_dtype : t->dtype;
        if (s->kind == IT_TENSOR_PARAM)
            params += t->numel;
        out_counts.n[dt]++;
        nout++;
        nbytes += (size_t)t->numel * it_dtype_size(dt);
        if (!dry_run && (rc = it_weights_writer_add_view(wr, t, dt)) < 0) {
            print_lib_error(rc, "cannot write %s", out);
            goto done;
        }
    }
    if (!dry_run && (rc = it_weights_writer_finish(&wr)) < 0) {
        print_lib_error(rc, "cannot write %s", out);
        goto done;
    }
    if (!quiet) {
        char a[128], b[128];
        describe(&in_counts, a, sizeof a);
        describe(&out_counts, b, sizeof b);
        fprintf(stderr, "%s: %s: %zu tensors (%s), %s, all as %s requires\n", tool_name(), in,
                it_weights_count(w), a, it_weights_is_pt(w) ? "PyTorch checkpoint" : "native file",
                cfg_source);
        if (dry_run)
            fprintf(stderr, "%s: dry run: %zu tensors (%s), %lld parameters, %zu bytes would be written\n",
                    tool_name(), nout, b, (long long)params, nbytes);
        else
            fprintf(stderr, "%s: %s: wrote %zu tensors (%s), %lld parameters, %zu bytes of data\n",
                    tool_name(), out, nout, b, (long long)params, nbytes);
    }
    status = EXIT_OK;
done:
    it_weights_writer_free(&wr);
    it_tensor_table_free(&table);
    it_weights_close(&w);
    free(json);
    free(meta);
    return status;
}
