/* it-stats: what token records cost and keep, in the style of samtools stats. This file is
 * the command line; the parts are in tools/stats.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/records.h"
#include "infotok/core.h"
#include "tools/common.h"
#include "tools/stats.h"

static const char usage_text[] =
    "Usage: it-stats [options] INPUT...\n"
    "Statistics of InfoTok token records (token streams or shards; '-' for stdin).\n"
    "\n"
    "Options:\n"
    "      --format F             tsv (samtools-stats style sections) or json [tsv]\n"
    "      --check                only check that every input reads completely; one line each,\n"
    "                             exit status 1 if any is damaged or incomplete\n"
    "      --psnr                 decode and compare with the source videos: PSNR (TokenBench:\n"
    "                             mean over videos; and of the pooled MSE) and SSIM\n"
    "      --rates LIST           with --psnr: re-allocate at each average rate (e.g.\n"
    "                             1,0.75,0.5,0.25) instead of using the records' masks\n"
    "      --strategy LIST        with --rates: static, elbo and/or global_elbo [static]\n"
    "                             (both lists: comma-separated, or the option repeated)\n"
    "      --no-ssim              with --psnr: skip SSIM (the slow part)\n"
    "      --plot DIR             write SVG figures into DIR\n"
    "      --partial FILE         also write mergeable statistics to FILE (a task's share)\n"
    "      --merge                the inputs are --partial files: report their sum (moments\n"
    "                             and fixed-bin histograms; no quantiles), as if run on all\n"
    "      --elbo-stat FILE       with --rates and global_elbo: the corpus ELBO statistic\n"
    "                             (it-pack elbo-stat); without it, the inputs' own\n"
    "      --checkpoint FILE      model weights for --psnr [the bundled model]\n"
    "      --device DEV           cpu, cuda or cuda:N [cpu]\n"
    "      --precision P          fp32 or bf16 (infotok-precision(7)) [the tokens'\n"
    "                             own, from their header]\n"
    "  -@, --threads N            compute threads [1]\n"
    "  -q, --quiet                no progress messages\n"
    "  -v, --verbose              more messages\n"
    "  -h, --help                 show this help and exit\n"
    "      --version              show versions and exit\n"
    "\n"
    "Exit status: 0 ok, 1 some inputs damaged (--check) or some videos failed (to encode, or\n"
    "to compare with --psnr), 2 usage error, 3 fatal error.\n";

/* --rates LIST x --strategy LIST: the --psnr configurations (one "as stored" without --rates). */
static int make_confs(const char *rates, const char *strategies, qconf **out, size_t *nout)
{
    qconf *confs = NULL;
    size_t n = 0;
    int rc = 0;
    if (!rates) {
        confs = calloc(1, sizeof *confs);
        *out = confs;
        *nout = confs ? 1 : 0;
        return confs ? 0 : EXIT_FATAL;
    }
    char *ss = strdup(strategies), *rs = NULL, *save1 = NULL;
    for (char *sname = ss ? strtok_r(ss, ",", &save1) : NULL; sname && rc == 0; sname = strtok_r(NULL, ",", &save1)) {
        int strategy;
        if (it_strategy_parse(sname, &strategy) < 0) {
            rc = usage_error("%s", it_error_message());
            break;
        }
        free(rs);
        char *save2 = NULL;
        rs = strdup(rates);
        for (char *rt = rs ? strtok_r(rs, ",", &save2) : NULL; rt && rc == 0; rt = strtok_r(NULL, ",", &save2)) {
            double v;
            qconf *p = NULL;
            if (parse_double("--rates", rt, IT_RATE_MIN, IT_RATE_MAX, &v) < 0)
                rc = EXIT_USAGE;
            else if (!(p = realloc(confs, (n + 1) * sizeof *p)))
                rc = EXIT_FATAL;
            else {
                confs = p;
                memset(&confs[n], 0, sizeof *confs);
                confs[n].strategy = strategy;
                confs[n].rate = (float)v;
                n++;
            }
        }
    }
    free(rs);
    free(ss);
    if (rc == 0 && n == 0)
        rc = usage_error("--rates and --strategy give no configuration");
    if (rc != 0) {
        free(confs);
        return rc;
    }
    *out = confs;
    *nout = n;
    return 0;
}

/* A repeatable list option: the values join one comma list. */
static int join(char *buf, size_t size, const char *name, const char *value)
{
    const size_t used = strlen(buf);
    if (used + strlen(value) + 2 > size)
        return usage_error("%s: too many values", name);
    snprintf(buf + used, size - used, "%s%s", used ? "," : "", value);
    return 0;
}

/* --check: read everything, one line per input */
static int check_inputs(char **inputs, int n)
{
    int status = EXIT_OK;
    for (int i = 0; i < n; i++) {
        it_record_reader *r = NULL;
        int rc = it_record_reader_open(&r, inputs[i]), type;
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1)
            ;
        if (rc < 0) {
            printf("BAD\t%s\t%s\n", inputs[i], it_error_message());
            status = EXIT_SOME_FAILED;
        } else {
            printf("ok\t%s\n", inputs[i]);
        }
        it_record_reader_free(&r);
    }
    return status;
}

int main(int argc, char **argv)
{
    tool_init("it-stats");
    enum { OPT_FORMAT = OPT_TOOL_FIRST, OPT_CHECK, OPT_PSNR, OPT_RATES, OPT_NOSSIM, OPT_PLOT, OPT_PARTIAL,
           OPT_MERGE, OPT_VERSION };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"check", no_argument, NULL, OPT_CHECK},
        {"psnr", no_argument, NULL, OPT_PSNR},
        {"rates", required_argument, NULL, OPT_RATES},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"elbo-stat", required_argument, NULL, OPT_ELBO_STAT},
        {"no-ssim", no_argument, NULL, OPT_NOSSIM},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"partial", required_argument, NULL, OPT_PARTIAL},
        {"merge", no_argument, NULL, OPT_MERGE},
        MODEL_LONGOPTS,
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    int c, taken, json = 0, check = 0, psnr = 0, ssim = 1, quiet = 0, status = EXIT_OK, merge = 0;
    const char *partial = NULL, *plot_dir = NULL;
    char rates[1024] = "", strategies[1024] = "";
    rate_opts ro;
    model_opts mo;
    rate_opts_init(&ro);
    model_opts_init(&mo);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "@:qvh", longopts, NULL)) != -1) {
        if ((taken = model_option(&mo, c, optarg)) < 0)
            return EXIT_USAGE;
        if (taken)
            continue;
        switch (c) {
        case OPT_FORMAT:
            if (strcmp(optarg, "tsv") && strcmp(optarg, "json"))
                return usage_error("invalid value '%s' for --format: expected tsv or json", optarg);
            json = strcmp(optarg, "json") == 0;
            break;
        case OPT_CHECK: check = 1; break;
        case OPT_PSNR: psnr = 1; break;
        case OPT_RATES: if (join(rates, sizeof rates, "--rates", optarg)) return EXIT_USAGE; break;
        case OPT_STRATEGY: if (join(strategies, sizeof strategies, "--strategy", optarg)) return EXIT_USAGE; break;
        case OPT_ELBO_STAT: ro.stat_file = optarg; break;
        case OPT_NOSSIM: ssim = 0; break;
        case OPT_PLOT: plot_dir = optarg; break;
        case OPT_PARTIAL: partial = optarg; break;
        case OPT_MERGE: merge = 1; break;
        case 'q': quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    char **inputs = argv + optind;
    const int ninputs = argc - optind;
    if (ninputs == 0)
        return usage_error("no input given");
    if (rates[0] && !psnr)
        return usage_error("--rates needs --psnr");
    if (ro.stat_file && !rates[0])
        return usage_error("--elbo-stat needs --rates");
    for (int i = 0; i < ninputs && psnr; i++)
        if (strcmp(inputs[i], "-") == 0)
            return usage_error("--psnr reads its inputs more than once: give files, not stdin");
    if (merge && (psnr || check || partial))
        return usage_error("--merge reads statistics, not records: no --psnr, --check or --partial");
    if (check)
        return check_inputs(inputs, ninputs);

    qconf *confs = NULL;
    size_t nconf = 0;
    if (psnr && (status = make_confs(rates[0] ? rates : NULL, strategies[0] ? strategies : "static", &confs, &nconf)))
        return status;
    stats s;
    it_model *m = NULL;
    if (stats_init(&s) < 0) {
        print_error("out of memory");
        free(confs);
        return EXIT_FATAL;
    }
    s.merged = merge;
    for (int i = 0; i < ninputs; i++)
        if ((merge ? stats_merge_partial(&s, inputs[i]) : stats_collect(&s, inputs[i])) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
    if (partial && stats_write_partial(&s, partial) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    if (s.failed)
        status = EXIT_SOME_FAILED;
    if (psnr) {
        it_elbo_stat stat = {0, 0};
        int global = 0;
        for (size_t k = 0; k < nconf; k++)
            global |= confs[k].strategy == IT_STRATEGY_GLOBAL_ELBO;
        if ((global && rate_opts_corpus_stat(&ro, inputs, ninputs, &stat) < 0) ||
            model_opts_precision_from_inputs(&mo, inputs, ninputs) < 0 || model_opts_load(&mo, &m) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
        for (size_t k = 0; k < nconf; k++) {
            if (!quiet && nconf > 1)
                fprintf(stderr, "%s: --psnr %s at %g\n", tool_name(),
                        confs[k].strategy ? it_strategy_name(confs[k].strategy) : "as stored", (double)confs[k].rate);
            if (stats_quality(m, model_opts_name(&mo), mo.precision_given, &confs[k], &stat, inputs, ninputs, s.nvid,
                              ssim) < 0) {
                status = EXIT_FATAL;
                goto done;
            }
            if (confs[k].failed)
                status = EXIT_SOME_FAILED;
        }
    }
    if (stats_report(&s, confs, nconf, json, ssim, argc, argv) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    if (plot_dir) {
        if (stats_figures(&s, confs, nconf, psnr && rates[0], plot_dir) < 0)
            status = EXIT_FATAL;
        else if (!quiet)
            fprintf(stderr, "%s: figures in %s/\n", tool_name(), plot_dir);
    }
done:
    for (size_t k = 0; k < nconf; k++)
        qconf_free(&confs[k]);
    free(confs);
    it_model_free(&m);
    stats_free(&s);
    return status;
}
