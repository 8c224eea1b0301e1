/*
 * fsx.h - file-system helpers the subsystems share. Any thread (but two
 * threads must not remove the same tree at once).
 */
#ifndef KILN_FSX_H
#define KILN_FSX_H

#include "base/kiln.h"

/* Removes a directory tree (files, links, subdirectories); never follows
 * symbolic links. Missing paths are not an error. */
void fsx_remove_tree(const char *dir);

/* A relative path that stays below its directory: not empty, not
 * absolute, no ".." component. */
bool fsx_safe_relpath(const char *rel);

/* Creates the missing parent directories of path (mode 0755), from the
 * first '/' at or after path[from]. */
void fsx_make_parents(char *path, size_t from);

/* Calls fn for every regular file under path (or path itself when it is
 * one), in path order, with its path and its path relative to `path`
 * ("" for path itself); symbolic links are not followed. */
void fsx_walk(const char *path,
              void (*fn)(void *ctx, const char *file, const char *rel),
              void *ctx);

/* Writes all n bytes to fd (a pipe, socket or file), through short writes
 * and EINTR; false on an error or a write of nothing. */
bool fsx_write_all(int fd, const void *p, size_t n);

#endif
