/* it-scan: find videos (files, directories, globs, tar/zip members, lists on stdin) and
 * probe them into a JSON Lines manifest, one video per line, in a stable sorted order. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infotok/core.h"
#include "tools/common.h"

static const char usage_text[] =
    "Usage: it-scan [options] INPUT...\n"
    "Probe videos into a JSON Lines manifest on stdout, one video per line.\n"
    "\n"
    "INPUT is a video file, a directory (searched recursively), a glob pattern, a tar or\n"
    "zip archive (each video member becomes a line), or '-' for a list of inputs on stdin.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE    write the manifest to FILE (complete or not at all) [stdout]\n"
    "  -0, --null           the list on stdin is NUL-separated, not newline-separated\n"
    "  -a, --all-files      in directories and archives, probe every file, not only those\n"
    "                       with a video extension\n"
    "  -c, --count-frames   decode every video to count its frames exactly\n"
    "      --id KIND        path: ids hash the path as written; content: they hash the\n"
    "                       file's bytes (survive moves and renames; reads every byte) [path]\n"
    "  -@, --threads N      probe N videos at once [1]\n"
    "      --shard I/N      probe only slice I (0-based) of N of the sorted inputs\n"
    "                       (auto: from a Slurm job array; auto/N: a Kubernetes\n"
    "                       indexed job's JOB_COMPLETION_INDEX of N)\n"
    "  -q, --quiet          no progress bar\n"
    "      --progress MODE  auto, bar, lines (one every 30 s) or none [auto:\n"
    "                       a bar on a terminal, else lines]\n"
    "  -v, --verbose        more messages, FFmpeg's included\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show versions and exit\n"
    "\n"
    "Exit status: 0 all inputs probed, 1 some inputs failed (each has a line with\n"
    "\"status\":\"error\"), 2 usage error, 3 fatal error.\n";

typedef struct entry {
    char *path, *member;
    char *error; /* set when the input failed before probing (missing, bad archive) */
    int64_t size;
} entry;

typedef struct entry_list {
    entry *v;
    size_t n, cap;
    int all_files;
} entry_list;

static int list_push(entry_list *l, const char *path, const char *member, const char *error,
                     int64_t size)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    entry *e = &l->v[l->n];
    e->path = strdup(path);
    e->member = member ? strdup(member) : NULL;
    e->error = error ? strdup(error) : NULL;
    e->size = size;
    if (!e->path || (member && !e->member) || (error && !e->error))
        return -1;
    l->n++;
    return 0;
}

static int has_video_suffix(const char *name)
{
    static const char *const exts[] = {
        "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "flv",
        "wmv", "asf", "ogv", "3gp", "3g2", "y4m", "nut", "mxf", "ivf", "dv", "vob", "gif",
        "h264", "264", "h265", "265", "hevc", "f4v", "mj2", "rm", "rmvb", NULL};
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return 0;
    for (int i = 0; exts[i]; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return 1;
    return 0;
}

static int add_member(void *user, const char *member, int64_t size)
{
    entry_list *l = user;
    const char *path = l->v[l->n - 1].path; /* the archive placeholder pushed just before */
    if (!l->all_files && !has_video_suffix(member))
        return 0;
    return list_push(l, path, member, NULL, size) < 0 ? IT_E_NOMEM : 0;
}

static int add_archive(entry_list *l, const char *path)
{
    /* A placeholder carries the archive's path for the callback, then goes. */
    if (list_push(l, path, NULL, NULL, -1) < 0)
        return -1;
    size_t mark = l->n;
    int rc = it_archive_list(path, add_member, l);
    /* Drop the placeholder, keeping the members (if any) in archive order. */
    entry placeholder = l->v[mark - 1];
    memmove(&l->v[mark - 1], &l->v[mark], (l->n - mark) * sizeof *l->v);
    l->n--;
    if (rc < 0) {
        int r = list_push(l, placeholder.path, NULL, it_error_message(), -1);
        free(placeholder.path);
        return r;
    }
    free(placeholder.path);
    return 0;
}

static int add_path(entry_list *l, const char *path, int explicit);

static int add_directory(entry_list *l, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: cannot open directory: %s", dir, strerror(errno));
        return list_push(l, dir, NULL, msg, -1);
    }
    struct dirent *de;
    size_t len = strlen(dir);
    int trailing = len > 0 && dir[len - 1] == '/';
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        char *child;
        if (asprintf(&child, "%s%s%s", dir, trailing ? "" : "/", de->d_name) < 0)
            rc = -1;
        else {
            rc = add_path(l, child, 0);
            free(child);
        }
    }
    closedir(d);
    return rc;
}

/* explicit: named by the user (always probed) rather than found in a directory. */
static int add_path(entry_list *l, const char *path, int explicit)
{
    struct stat sb;
    if (explicit ? stat(path, &sb) != 0 : lstat(path, &sb) != 0) {
        if (explicit) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
            return list_push(l, path, NULL, msg, -1);
        }
        return 0;
    }
    /* Inside directories, symbolic links to files are followed, links to directories are
     * not (no cycles). */
    if (!explicit && S_ISLNK(sb.st_mode)) {
        if (stat(path, &sb) != 0 || S_ISDIR(sb.st_mode))
            return 0;
    }
    if (S_ISDIR(sb.st_mode))
        return add_directory(l, path);
    if (!S_ISREG(sb.st_mode))
        return explicit ? list_push(l, path, NULL, "not a regular file", -1) : 0;
    if (it_is_archive_path(path))
        return add_archive(l, path);
    if (explicit || l->all_files || has_video_suffix(path))
        return list_push(l, path, NULL, NULL, sb.st_size);
    return 0;
}

static int has_glob_chars(const char *s) { return strpbrk(s, "*?[") != NULL; }

static int add_input(entry_list *l, const char *arg)
{
    struct stat sb;
    if (stat(arg, &sb) == 0 || !has_glob_chars(arg))
        return add_path(l, arg, 1);
    glob_t g;
    int r = glob(arg, 0, NULL, &g);
    if (r == GLOB_NOMATCH) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: no file matches the pattern", arg);
        return list_push(l, arg, NULL, msg, -1);
    }
    if (r != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
        rc = add_path(l, g.gl_pathv[i], 1);
    globfree(&g);
    return rc;
}

static int add_stdin_list(entry_list *l, int nul)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getdelim(&line, &cap, nul ? '\0' : '\n', stdin)) > 0) {
        if (line[n - 1] == (nul ? '\0' : '\n'))
            line[--n] = '\0';
        if (!nul && n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0)
            continue;
        rc = add_input(l, line);
    }
    free(line);
    return rc;
}

static void list_free(entry_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].member);
        free(l->v[i].error);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int compare_entries(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    if (!x->member || !y->member)
        return !!x->member - !!y->member;
    return strcmp(x->member, y->member);
}

/* Probe one entry and format its line; returns 1 if the input failed. */
static int scan_one(const entry *e, int count_frames, int content_id, char **line)
{
    it_manifest_entry m = {.path = e->path, .member = e->member, .ok = 1};
    it_source src = {e->path, e->member};
    it_source_id(&src, m.id);
    it_probe_info *info = &m.info;
    if (!e->error && content_id && it_source_content_id(&src, m.id) < 0) {
        m.ok = 0;
        m.error = (char *)it_error_message();
        info->size = -1;
    } else if (e->error) {
        m.ok = 0;
        m.error = e->error;
        info->size = -1;
    } else {
        int rc = it_probe(&src, count_frames, info);
        if (rc < 0) {
            m.ok = 0;
            m.error = (char *)it_error_message();
        }
    }
    if (it_manifest_format(&m, line) < 0) {
        /* Not representable as JSON (a non-UTF-8 path): still one line, still an error. */
        *line = NULL;
        return -1;
    }
    return !m.ok;
}

int main(int argc, char **argv)
{
    tool_init("it-scan");
    enum { OPT_SHARD = 256, OPT_VERSION, OPT_ID };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"null", no_argument, NULL, '0'},
        {"all-files", no_argument, NULL, 'a'},    {"count-frames", no_argument, NULL, 'c'},
        {"threads", required_argument, NULL, '@'}, {"shard", required_argument, NULL, OPT_SHARD},
        {"id", required_argument, NULL, OPT_ID},
        {"quiet", no_argument, NULL, 'q'}, PROGRESS_LONGOPT,         {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    const char *output = NULL;
    int nul = 0, count_frames = 0, quiet = 0, all_files = 0, content_id = 0, c;
    long threads = 1;
    tool_shard shard = {0, 1};
    opterr = 0; /* our own message, naming the tool rather than the libtool wrapper */
    while ((c = getopt_long(argc, argv, "o:0acq@:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case '0': nul = 1; break;
        case 'a': all_files = 1; break;
        case 'c': count_frames = 1; break;
        case OPT_PROGRESS: if (parse_progress(optarg) < 0) return EXIT_USAGE; break;
        case OPT_ID:
            if (strcmp(optarg, "path") != 0 && strcmp(optarg, "content") != 0)
                return usage_error("invalid value '%s' for --id: expected path or content", optarg);
            content_id = strcmp(optarg, "content") == 0;
            break;
        case 'q': quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case '@':
            if (parse_int("--threads", optarg, 1, 1024, &threads) < 0)
                return EXIT_USAGE;
            break;
        case OPT_SHARD:
            if (parse_shard(optarg, &shard) < 0)
                return EXIT_USAGE;
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("no input given");
    for (int i = optind, dashes = 0; i < argc; i++)
        if (strcmp(argv[i], "-") == 0 && ++dashes > 1)
            return usage_error("'-' given more than once");

    int status = EXIT_OK, failed = 0, write_error = 0;
    entry_list list = {.all_files = all_files};
    FILE *out = stdout;
    char *tmp = NULL;
    for (int i = optind; i < argc; i++) {
        int rc = strcmp(argv[i], "-") == 0 ? add_stdin_list(&list, nul) : add_input(&list, argv[i]);
        if (rc < 0) {
            print_error("out of memory while listing inputs");
            status = EXIT_FATAL;
            goto done;
        }
    }
    qsort(list.v, list.n, sizeof *list.v, compare_entries);
    /* The same file named twice (by a glob and a directory, say) is one video. */
    size_t kept = 0;
    for (size_t i = 0; i < list.n; i++) {
        if (kept && compare_entries(&list.v[kept - 1], &list.v[i]) == 0) {
            free(list.v[i].path);
            free(list.v[i].member);
            free(list.v[i].error);
            continue;
        }
        list.v[kept++] = list.v[i];
    }
    list.n = kept;
    int64_t begin, end;
    shard_range(&shard, (int64_t)list.n, &begin, &end);

    /* -o FILE: written under a temporary name, renamed when complete. */
    if (output && strcmp(output, "-") != 0) {
        if (asprintf(&tmp, "%s.tmp.%ld", output, (long)getpid()) < 0) {
            tmp = NULL;
            status = EXIT_FATAL;
            goto done;
        }
        if (!(out = fopen(tmp, "w"))) {
            print_error("%s: cannot create: %s", output, strerror(errno));
            out = stdout;
            status = EXIT_FATAL;
            goto done;
        }
    }

    tool_progress prog;
    progress_start(&prog, end - begin, "videos", quiet);
    int64_t done_count = 0;
#pragma omp parallel for schedule(dynamic, 1) ordered num_threads(threads) reduction(+ : failed)
    for (int64_t i = begin; i < end; i++) {
        char *line = NULL;
        int r = scan_one(&list.v[i], count_frames, content_id, &line);
        failed += r != 0;
#pragma omp ordered
        {
            if (line) {
                if (fprintf(out, "%s\n", line) < 0)
                    write_error = 1;
            } else {
                print_error("%s: path is not valid UTF-8; skipped", list.v[i].path);
            }
            progress_update(&prog, ++done_count);
        }
        free(line);
    }
    progress_finish(&prog);

    if (fflush(out) != 0 || ferror(out))
        write_error = 1;
    if (tmp) {
        if (fclose(out) != 0)
            write_error = 1;
        out = stdout;
        if (write_error || rename(tmp, output) != 0) {
            print_error("%s: cannot write: %s", output, strerror(errno));
            write_error = 1;
        }
    } else if (write_error) {
        print_error("cannot write the manifest: %s", strerror(errno));
    }
    if (write_error)
        status = EXIT_FATAL;
    else if (failed) {
        print_error("%d of %lld inputs failed", failed, (long long)(end - begin));
        status = EXIT_SOME_FAILED;
    }
done:
    if (out != stdout)
        fclose(out);
    if (tmp && status == EXIT_FATAL)
        unlink(tmp);
    free(tmp);
    list_free(&list);
    return status;
}
