/*
 * fsx.c - nftw, depth first, without following links.
 */
#include "base/fsx.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
