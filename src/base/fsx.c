/*
 * fsx.c - nftw, depth first, without following links.
 */
#include "base/fsx.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void fsx_remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool fsx_safe_relpath(const char *rel)
{
    if (!*rel || *rel == '/')
        return false;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

void fsx_make_parents(char *path, size_t from)
{
    for (char *s = path + from; (s = strchr(s + 1, '/'));) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
}

struct walk_file {
    char *path, *rel;
};

struct walk_list {
    struct walk_file *f;
    size_t n, cap;
};

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct walk_file *)a)->path,
                  ((const struct walk_file *)b)->path);
}

/* Collects the regular files under path (rel: their path below the top). */
static void collect(const char *path, const char *rel, struct walk_list *l,
                    int depth)
{
    struct stat st;
    if (depth > 32 || lstat(path, &st) != 0)
        return;
    if (S_ISREG(st.st_mode)) {
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            l->f = xrealloc(l->f, l->cap * sizeof(*l->f));
        }
        l->f[l->n].path = xstrdup(path);
        l->f[l->n].rel = xstrdup(rel);
        l->n++;
        return;
    }
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t plen = strlen(path) + strlen(e->d_name) + 2;
        size_t rlen = strlen(rel) + strlen(e->d_name) + 2;
        char *sub = xmalloc(plen), *subrel = xmalloc(rlen);
        snprintf(sub, plen, "%s/%s", path, e->d_name);
        snprintf(subrel, rlen, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        collect(sub, subrel, l, depth + 1);
        mem_free(sub);
        mem_free(subrel);
    }
    if (dir)
        closedir(dir);
}

void fsx_walk(const char *path,
              void (*fn)(void *ctx, const char *file, const char *rel),
              void *ctx)
{
    struct walk_list l = {0};
    collect(path, "", &l, 0);
    if (l.n)
        qsort(l.f, l.n, sizeof(*l.f), cmp_file);
    for (size_t i = 0; i < l.n; i++) {
        fn(ctx, l.f[i].path, l.f[i].rel);
        mem_free(l.f[i].path);
        mem_free(l.f[i].rel);
    }
    mem_free(l.f);
}

bool fsx_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}
