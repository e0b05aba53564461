/* bench_shard: random-read latency of shard records against reading the same videos'
 * tokens from the Megatron export, side by side in one process (tests/bench/shard.sh).
 *
 *   bench_shard SHARD MEGATRON_PREFIX ROUNDS
 *
 * Per round, every video is read once in a fixed pseudo-random order: from the shard, all its
 * windows (LMDB lookup, zstd, CRC-32 and every invariant checked, kept tokens gathered); from
 * the export, its sequence (the .idx entry, then the uint16 tokens copied out of the mmap'd
 * .bin). Both see a warm page cache after the first round; the numbers are medians over
 * rounds. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "infotok/shard.h"
#include "infotok/core.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        exit(1);
    }
    *len = (size_t)st.st_size;
    void *p = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        perror(path);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_shard SHARD MEGATRON_PREFIX ROUNDS\n");
        return 2;
    }
    int rounds = atoi(argv[3]);
    it_shard *s;
    if (it_shard_open(&s, argv[1], 0) < 0) {
        fprintf(stderr, "%s\n", it_error_message());
        return 1;
    }
    char path[4096];
    size_t idx_len, bin_len;
    snprintf(path, sizeof path, "%s.idx", argv[2]);
    const unsigned char *idx = map_file(path, &idx_len);
    snprintf(path, sizeof path, "%s.bin", argv[2]);
    const unsigned char *bin = map_file(path, &bin_len);
    uint64_t nseq;
    memcpy(&nseq, idx + 18, 8);
    const uint32_t nv = it_shard_video_count(s);
    if (nseq != nv) {
        fprintf(stderr, "the export has %" PRIu64 " sequences, the shard %" PRIu32 " videos\n", nseq, nv);
        return 1;
    }
    const int32_t *lengths = (const int32_t *)(idx + 34);
    const int64_t *pointers = (const int64_t *)(idx + 34 + 4 * nseq);
    uint32_t *order = malloc(nv * sizeof *order);
    uint16_t *buf = malloc((size_t)IT_STREAM_MAX_TOKENS * 64 * 2);
    double *ts = malloc(rounds * sizeof *ts), *tm = malloc(rounds * sizeof *tm);
    uint64_t windows = 0, tokens = 0, check_s = 0, check_m = 0;
    for (uint32_t i = 0; i < nv; i++)
        order[i] = i;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (uint32_t i = nv; i > 1; i--) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        uint32_t j = (uint32_t)((rng >> 33) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (uint32_t k = 0; k < nv; k++) {
            const char *vj, *ej;
            uint32_t nw, n = 0;
            if (it_shard_video(s, order[k], &vj, &ej, &nw) < 0)
                return 1;
            for (uint32_t w = 0; w < nw; w++) {
                const it_window_rec *rec;
                if (it_shard_window(s, order[k], w, &rec) < 0) {
                    fprintf(stderr, "%s\n", it_error_message());
                    return 1;
                }
                const size_t nt = (size_t)rec->lt * rec->lh * rec->lw;
                for (size_t i = 0; i < nt; i++)
                    if (!rec->keep || rec->keep[i])
                        buf[n++] = rec->indices[i];
                if (r == 0)
                    windows++;
            }
            for (uint32_t i = 0; i < n; i++)
                check_s += buf[i];
            if (r == 0)
                tokens += n;
        }
        double t1 = now();
        for (uint32_t k = 0; k < nv; k++) {
            const uint32_t v = order[k];
            memcpy(buf, bin + pointers[v], (size_t)lengths[v] * 2);
            for (int32_t i = 0; i < lengths[v]; i++)
                check_m += buf[i];
        }
        double t2 = now();
        ts[r] = t1 - t0;
        tm[r] = t2 - t1;
    }
    if (check_s != check_m) {
        fprintf(stderr, "the shard and the export hold different tokens\n");
        return 1;
    }
    qsort(ts, rounds, sizeof *ts, cmp_double);
    qsort(tm, rounds, sizeof *tm, cmp_double);
    const double s_med = ts[rounds / 2], m_med = tm[rounds / 2];
    printf("videos %" PRIu32 ", windows %" PRIu64 ", kept tokens %" PRIu64 ", rounds %d (medians)\n", nv, windows,
           tokens, rounds);
    printf("shard:    %.1f us per window record, %.1f us per video, %.1f M kept tokens/s\n",
           1e6 * s_med / windows, 1e6 * s_med / nv, tokens / s_med / 1e6);
    printf("megatron: %.2f us per video sequence, %.1f M tokens/s\n", 1e6 * m_med / nv, tokens / m_med / 1e6);
    printf("ratio: a shard video read costs %.0fx a Megatron sequence read\n", s_med / m_med);
    it_shard_close(&s);
    free(order);
    free(buf);
    free(ts);
    free(tm);
    return 0;
}
