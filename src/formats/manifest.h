/*
 * manifest.h - SageMaker's manifest files (kmeans-and-recordio.md §4.3):
 * a ManifestFile is a JSON list whose first element is {"prefix":
 * "s3://bucket/some/prefix/"} and whose other elements are key suffixes;
 * an AugmentedManifestFile is JSON Lines, each object naming its data by
 * the given attribute names (an "s3://" value is an object). The result
 * owns its strings (manifest_release). Any thread.
 */
#ifndef KILN_FORMATS_MANIFEST_H
#define KILN_FORMATS_MANIFEST_H

#include "base/err.h"

struct manifest {
    char *prefix;   /* "s3://bucket/prefix/" (ManifestFile) */
    char **entries; /* suffixes, or full s3:// URIs (augmented) */
    size_t n;
};

void manifest_release(struct manifest *m);

/* KILN_EINVAL with the reason for anything but the documented shape. */
int manifest_parse(const char *text, size_t len, struct manifest *m,
                   struct kiln_diag *d);

/* Collects, per line, the s3:// URIs under `attributes` (NULL-terminated
 * names); other attribute values must still be present. */
int manifest_parse_augmented(const char *text, size_t len,
                             const char *const *attributes, struct manifest *m,
                             struct kiln_diag *d);

#endif
