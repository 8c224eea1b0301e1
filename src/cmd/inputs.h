/*
 * inputs.h - the S3 objects a job reads, from an S3DataSource: every
 * object under an S3Prefix (in key order; "folder" markers skipped), the
 * entries of a ManifestFile, or the s3:// URIs of an AugmentedManifestFile's
 * AttributeNames (default "source-ref"). Each object comes with the name
 * it has relative to the input: its key after the prefix's last '/' (batch
 * transform's output names: s3://b/in with in/x/a.csv gives in/x/a.csv.out)
 * or, for jobs that download a channel (within_prefix), its key after the
 * whole prefix, '/'s dropped, as SageMaker places files in
 * /opt/ml/input/data/<channel> (s3://b/in gives x/a.csv; the object the
 * prefix names itself keeps its last component); the manifest's entry; or
 * an augmented URI's last component. Every bucket
 * must be the account's. Messages start "ClientError: ", as SageMaker's
 * FailureReason for bad input does.
 */
#ifndef KILN_CMD_INPUTS_H
#define KILN_CMD_INPUTS_H

#include <jansson.h>

#include "base/err.h"
#include "meta/meta.h"
#include "s3/objstore.h"

struct inputs_src {
    struct meta *meta;
    struct objstore *store;
    const char *account;
    bool within_prefix; /* S3Prefix names relative to the whole prefix */
};

struct keylist {
    char **keys; /* full keys */
    char **rel;  /* file names relative to the channel */
    size_t n;
    size_t dirlen;    /* S3Prefix: bytes of the prefix's directory part */
    size_t prefixlen; /* S3Prefix, within_prefix: bytes of the prefix */
};

void keys_add(struct keylist *l, const char *key, const char *rel);
void keys_free(struct keylist *l);

/* 0, or KILN_EINVAL when the bucket does not exist or is another's. */
int inputs_owned_bucket(const struct inputs_src *s, const char *bucket,
                        struct kiln_diag *d);

/*
 * Puts every regular file under dir at <uri>/<its path under dir> (uri:
 * "s3://bucket/prefix", in the account's bucket), or those for which
 * want(ctx, file, rel) is true when want is not NULL; *files counts them
 * (may be NULL). A missing dir puts nothing.
 */
int inputs_upload_dir(const struct inputs_src *s, const char *dir,
                      const char *uri,
                      bool (*want)(void *ctx, const char *file,
                                   const char *rel),
                      void *ctx, size_t *files, struct kiln_diag *d);

/*
 * Copies (never links: the job may change them) the objects under the
 * S3 prefix `uri` into dir, each at its key after the prefix; none is not
 * an error. *files counts them (may be NULL).
 */
int inputs_copy_prefix(const struct inputs_src *s, const char *uri,
                       const char *dir, size_t *files, struct kiln_diag *d);

/* The objects of S3DataSource `src` into l, all in one bucket (copied to
 * bucket) unless augmented; KILN_EINVAL when there is none or the source
 * cannot be read. */
int inputs_resolve(const struct inputs_src *s, json_t *src, struct keylist *l,
                   char *bucket, size_t bsize, struct kiln_diag *d);

#endif
