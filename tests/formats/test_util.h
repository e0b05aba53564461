/* test_util.h: the few helpers the formats tests share. Exit codes follow the Automake harness:
 * 0 pass, 77 skip, 99 hard error (a failed check is a hard error: it names the line). */
#ifndef IT_TESTS_FORMATS_TEST_UTIL_H
#define IT_TESTS_FORMATS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/core.h"

static int test_failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            test_failures++;                                                             \
        }                                                                                \
    } while (0)

/* A call that must fail with `code` and a message containing `needle`. */
#define CHECK_ERR(expr, code, needle)                                                    \
    do {                                                                                 \
        it_error_clear();                                                                \
        int rc_ = (expr);                                                                \
        const char *m_ = it_error_message();                                             \
        if (rc_ != (code) || !strstr(m_, (needle))) {                                    \
            fprintf(stderr, "%s:%d: %s: got %d (%s) \"%s\", expected %d with \"%s\"\n",  \
                    __FILE__, __LINE__, #expr, rc_, it_strerror(rc_), m_, (int)(code),   \
                    (needle));                                                           \
            test_failures++;                                                             \
        } else if (getenv("VERBOSE")) {                                                  \
            fprintf(stderr, "ok: %s\n", m_);                                             \
        }                                                                                \
    } while (0)

#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        it_error_clear();                                                                \
        int rc_ = (expr);                                                                \
        if (rc_ != 0) {                                                                  \
            fprintf(stderr, "%s:%d: %s failed: %d (%s) %s\n", __FILE__, __LINE__, #expr, \
                    rc_, it_strerror(rc_), it_error_message());                          \
            test_failures++;                                                             \
        }                                                                                \
    } while (0)

static inline int test_result(void)
{
    if (test_failures)
        fprintf(stderr, "%d check(s) failed\n", test_failures);
    return test_failures ? 99 : 0;
}

/* A fixture under $top_srcdir/tests/formats (or the current directory without it). */
static inline const char *fixture(const char *name)
{
    static char buf[4][4096];
    static int slot;
    const char *top = getenv("top_srcdir");
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s/tests/formats/%s", top ? top : ".", name);
    return b;
}

/* A scratch directory for files a test writes; removed by the caller with rm_tree(). */
static inline const char *scratch_dir(const char *tag)
{
    static char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/it-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(99);
    }
    return dir;
}

static inline void rm_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

static inline unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static inline int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

#endif
