/*
 * artifact.h - model.tar.gz and output.tar.gz, with libarchive.
 *
 * Packing stores a directory's regular files with paths relative to it, as
 * SageMaker does (entries at the top level, no leading directory).
 * Extraction is defensive: absolute paths, `..` components, links,
 * devices and anything but regular files and directories are refused,
 * and the total size is capped, so a tar bomb or a path-traversal archive
 * is an error, not a write outside the destination. Any thread.
 */
#ifndef KILN_FORMATS_ARTIFACT_H
#define KILN_FORMATS_ARTIFACT_H

#include "base/buf.h"
#include "base/err.h"

/* Writes a gzip'd tar of the files under `dir` to `path`. */
int artifact_pack(const char *dir, const char *path, struct kiln_diag *d);

/* Extracts `path` into the existing directory `dest`; at most max_bytes
 * of file data and 100,000 entries. */
int artifact_extract(const char *path, const char *dest, uint64_t max_bytes,
                     struct kiln_diag *d);

/* Reads member `name` of a .tar.gz held in memory into out (capped by
 * out's limit). KILN_ENOTFOUND if absent. */
int artifact_member(const void *tgz, size_t len, const char *name,
                    struct buf *out, struct kiln_diag *d);

#endif
