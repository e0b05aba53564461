/* it-pack: token streams -> token shards, and the shard utilities (verify, list, dump, merge,
 * elbo-stat, export). This file is the dispatcher and the shared helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "infotok/stream.h"
#include "infotok/core.h"
#include "tools/common.h"
#include "tools/pack.h"

static const char usage_text[] =
    "Usage: it-pack [create] [options] -o PREFIX INPUT...\n"
    "       it-pack merge [options] -o PREFIX SHARD...\n"
    "       it-pack verify SHARD...\n"
    "       it-pack list INPUT...\n"
    "       it-pack dump [--video ID] [--elbo] INPUT...\n"
    "       it-pack elbo-stat INPUT...\n"
    "       it-pack export --format megatron|npy|wds -o PREFIX INPUT...\n"
    "       it-pack import -o PREFIX EXPORT.export.json\n"
    "Store token records in token shards (infotok-shard(5)) and read them back.\n"
    "\n"
    "INPUT is a token stream (infotok-stream(5), '-' for stdin) or a shard; create and merge\n"
    "write PREFIX-00000.itshard, PREFIX-00001.itshard, ... (each complete or absent).\n"
    "\n"
    "Options of create and merge:\n"
    "  -o, --output PREFIX        shard name prefix\n"
    "      --shard-size SIZE      start a new shard after SIZE bytes of records (K, M, G) [1G]\n"
    "      --level N              zstd level of the records [9]\n"
    "      --avg-rate R           re-allocate rates: average fraction of tokens kept\n"
    "      --strategy S           static, elbo or global_elbo (with --avg-rate) [global_elbo]\n"
    "      --elbo-stat FILE       corpus ELBO statistic for global_elbo (from it-pack elbo-stat);\n"
    "                             without it, computed from the inputs\n"
    "      --full-rate            drop rates and masks (records keep full-rate tokens)\n"
    "      --resume               keep the shards an interrupted run completed, skip their videos\n"
    "      --slim                 drop the ELBO maps and dropped tokens: smaller shards for\n"
    "                             final training sets, never re-allocatable\n"
    "Options of dump:\n"
    "      --video ID             only this video (16 hex digits; repeatable)\n"
    "      --elbo                 also print the per-token ELBO maps\n"
    "Options of export:\n"
    "      --format F             megatron (.bin/.idx), npy, or wds (webdataset tar)\n"
    "      --vocab-offset N       add N to every token id [0]\n"
    "      --bos ID, --eod ID     ids before and after each video's tokens [none]\n"
    "      --window-sep ID        id between consecutive windows [none]\n"
    "      --shard-size SIZE      start a new output after SIZE bytes; outputs are named\n"
    "                             PREFIX-000000, PREFIX-000001, ... [one output, PREFIX]\n"
    "Options of import (an export back into records, as one slim shard PREFIX-00000):\n"
    "  -o, --output PREFIX        shard name prefix\n"
    "Common:\n"
    "  -q, --quiet                no progress bar\n"
    "      --progress MODE        auto, bar, lines (one every 30 s) or none [auto: a bar on\n"
    "                             a terminal, else lines]\n"
    "  -v, --verbose              more messages\n"
    "  -h, --help                 show this help and exit\n"
    "      --version              show versions and exit\n"
    "\n"
    "Exit status: 0 success, 1 some inputs are damaged or incomplete (verify, list, dump),\n"
    "2 usage error, 3 fatal error.\n";

const char *pack_usage(void) { return usage_text; }

uint32_t pack_kept_tokens(const it_window_rec *r, uint16_t *out)
{
    const size_t nt = (size_t)r->lt * r->lh * r->lw;
    uint32_t n = 0;
    for (size_t i = 0; i < nt; i++)
        if (!r->keep || r->keep[i])
            out[n++] = r->indices[i];
    return n;
}

int main(int argc, char **argv)
{
    tool_init("it-pack");
    if (argc >= 2) {
        const char *cmd = argv[1];
        if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
        if (strcmp(cmd, "--version") == 0) {
            print_version();
            return EXIT_OK;
        }
        if (strcmp(cmd, "create") == 0)
            return pack_create(argc - 1, argv + 1, 0);
        if (strcmp(cmd, "merge") == 0)
            return pack_create(argc - 1, argv + 1, 1);
        if (strcmp(cmd, "verify") == 0)
            return pack_verify(argc - 1, argv + 1);
        if (strcmp(cmd, "list") == 0)
            return pack_list(argc - 1, argv + 1);
        if (strcmp(cmd, "dump") == 0)
            return pack_dump(argc - 1, argv + 1);
        if (strcmp(cmd, "elbo-stat") == 0)
            return pack_elbo_stat(argc - 1, argv + 1);
        if (strcmp(cmd, "export") == 0)
            return pack_export(argc - 1, argv + 1);
        if (strcmp(cmd, "import") == 0)
            return pack_import(argc - 1, argv + 1);
    }
    return pack_create(argc, argv, 0);
}
