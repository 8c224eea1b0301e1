/*
 * algo.c - shared plumbing of the built-in algorithms.
 */
#include "algos/algo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"

void algo_log(const char *level, const char *fmt, ...)
{
    char line[8192];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    size_t n;
    int w;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "[%m/%d/%Y %H:%M:%S ", &tm);
    w = snprintf(line + n, sizeof(line) - n, "%s %lu] ", level,
                 (unsigned long)getpid());
    if (w > 0)
        n += (size_t)w;
    va_start(ap, fmt);
    log_vline(STDOUT_FILENO, line, sizeof(line), n, fmt, ap);
    va_end(ap);
}

int algo_fail(const struct algo_args *a, bool client_error, const char *msg)
{
    struct buf path = BUF_INIT(4096), text = BUF_INIT(16384);
    int fd;

    buf_addf(&text, "%s%s", client_error ? "ClientError: " : "", msg);
    algo_log("ERROR", "%s", buf_cstr(&text));
    if (a->output_dir) {
        mkdir(a->output_dir, 0755);
        buf_addf(&path, "%s/failure", a->output_dir);
        fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
        if (fd >= 0) {
            if (write(fd, text.data, text.len) < 0) {
                /* the log line above still tells */
            }
            close(fd);
        }
    }
    buf_release(&path);
    buf_release(&text);
    return client_error ? 2 : 1;
}

int algo_read_json(const char *path, json_t **out, struct kiln_diag *d)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        return diag_set(d, KILN_EINVAL, "cannot read %s: %s", path, e.text);
    *out = j;
    return 0;
}

struct listing {
    char **paths;
    size_t n, cap;
};

static void walk(const char *dir, struct listing *l, int depth)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        struct buf p = BUF_INIT(8192);
        struct stat st;
        if (list[i]->d_name[0] != '.') {
            buf_addf(&p, "%s/%s", dir, list[i]->d_name);
            if (stat(buf_cstr(&p), &st) == 0) {
                if (S_ISDIR(st.st_mode) && depth < 16) {
                    walk(buf_cstr(&p), l, depth + 1);
                } else if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) {
                    if (l->n == l->cap) {
                        l->cap = l->cap ? 2 * l->cap : 16;
                        l->paths =
                            xrealloc(l->paths, l->cap * sizeof(*l->paths));
                    }
                    l->paths[l->n++] = buf_detach(&p, NULL);
                }
            }
        }
        buf_release(&p);
        free(list[i]); /* scandir's allocation; checksrc: allow */
    }
    if (n >= 0)
        free(list); /* scandir's allocation; checksrc: allow */
}

int algo_channel_files(const char *input_dir, const char *name, char ***paths,
                       size_t *n, struct kiln_diag *d)
{
    struct buf dir = BUF_INIT(8192);
    struct listing l = {0};
    struct stat st;

    buf_addf(&dir, "%s/data/%s", input_dir, name);
    if (stat(buf_cstr(&dir), &st) != 0 || !S_ISDIR(st.st_mode)) {
        int rc = diag_set(d, KILN_ENOTFOUND, "channel '%s' has no data at %s",
                          name, buf_cstr(&dir));
        buf_release(&dir);
        return rc;
    }
    walk(buf_cstr(&dir), &l, 0);
    buf_release(&dir);
    *paths = l.paths;
    *n = l.n;
    return 0;
}

void algo_free_paths(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mem_free(paths[i]);
    mem_free(paths);
}
