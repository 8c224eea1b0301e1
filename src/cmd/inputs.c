/*
 * inputs.c - the S3 objects a job reads (a training channel, a transform
 * job's input): an S3Prefix's objects in key order, or a manifest's; and
 * whole directories put under, or copied from, an S3 prefix.
 */
#include "cmd/inputs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fsx.h"
#include "base/mem.h"
#include "formats/manifest.h"

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int inputs_owned_bucket(const struct inputs_src *s, const char *bucket,
                        struct kiln_diag *d)
{
    struct meta_bucket b;
    if (meta_bucket_get(s->meta, bucket, &b) != 0)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: Data download failed: the bucket "
                        "'%s' does not exist.",
                        bucket);
    if (strcmp(b.account, s->account) != 0)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: Data download failed: access to "
                        "bucket '%s' is denied.",
                        bucket);
    return 0;
}

void keys_add(struct keylist *l, const char *key, const char *rel)
{
    l->keys = xrealloc(l->keys, (l->n + 1) * sizeof(char *));
    l->rel = xrealloc(l->rel, (l->n + 1) * sizeof(char *));
    l->keys[l->n] = xstrdup(key);
    l->rel[l->n] = xstrdup(rel);
    l->n++;
}

void keys_free(struct keylist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        mem_free(l->keys[i]);
        mem_free(l->rel[i]);
    }
    mem_free(l->keys);
    mem_free(l->rel);
    memset(l, 0, sizeof(*l));
}

static int add_prefixed(void *ctx, const struct meta_object *o)
{
    struct keylist *l = ctx;
    size_t n = strlen(o->key);
    if (n && o->key[n - 1] == '/')
        return 0; /* a "folder" marker, not data */
    const char *rel = o->key + l->prefixlen;
    while (*rel == '/')
        rel++;
    keys_add(l, o->key, *rel ? rel : o->key + l->dirlen);
    return 0;
}

static int read_object_text(const struct inputs_src *s, const char *bucket,
                            const char *key, struct buf *out,
                            struct kiln_diag *d)
{
    char chunk[65536];
    ssize_t n;
    int fd;

    if (objstore_open_object(s->store, bucket, key, &fd, d) != 0)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: Data download failed: the manifest "
                        "s3://%s/%s does not exist.",
                        bucket, key);
    int rc = 0;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_add(out, chunk, (size_t)n) != 0) {
            rc = diag_set(d, KILN_EINVAL,
                          "ClientError: the manifest is too large.");
            break;
        }
    close(fd);
    return rc;
}

int inputs_resolve(const struct inputs_src *s, json_t *src, struct keylist *l,
                   char *bucket, size_t bsize, struct kiln_diag *d)
{
    const char *type = jstr(src, "S3DataType");
    const char *uri = jstr(src, "S3Uri");
    const char *key;
    int rc;

    if (!uri)
        return diag_set(d, KILN_EINVAL, "ClientError: no S3Uri to read.");
    if (objstore_uri_split(uri, bucket, bsize, &key) != 0)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: '%s' is not an s3:// URI kiln can "
                        "read.",
                        uri);
    rc = inputs_owned_bucket(s, bucket, d);
    if (rc)
        return rc;
    if (strcmp(type, "S3Prefix") == 0) {
        const char *slash = strrchr(key, '/');
        l->dirlen = slash ? (size_t)(slash - key) + 1 : 0;
        l->prefixlen = s->within_prefix ? strlen(key) : l->dirlen;
        meta_object_scan(s->meta, bucket, NULL, key, add_prefixed, l);
    } else if (strcmp(type, "ManifestFile") == 0) {
        struct buf text = BUF_INIT(64u << 20);
        struct manifest man;
        const char *pkey;
        rc = read_object_text(s, bucket, key, &text, d);
        if (!rc && manifest_parse(buf_cstr(&text), text.len, &man, d))
            rc = diag_wrap(d, KILN_EINVAL, "ClientError: ");
        buf_release(&text);
        if (rc)
            return rc;
        if (objstore_uri_split(man.prefix, bucket, bsize, &pkey) != 0)
            rc = diag_set(d, KILN_EINVAL,
                          "ClientError: the manifest prefix '%s' is not an "
                          "s3:// URI",
                          man.prefix);
        if (!rc)
            rc = inputs_owned_bucket(s, bucket, d);
        for (size_t i = 0; !rc && i < man.n; i++) {
            struct buf full = BUF_INIT(4096);
            buf_addf(&full, "%s%s", pkey, man.entries[i]);
            keys_add(l, buf_cstr(&full), man.entries[i]);
            buf_release(&full);
        }
        manifest_release(&man);
        if (rc)
            return rc;
    } else if (strcmp(type, "AugmentedManifestFile") == 0) {
        /* JSON Lines whose AttributeNames name s3:// objects; each object
         * lands under its key's last component. */
        struct buf text = BUF_INIT(64u << 20);
        struct manifest man;
        const char *names[17] = {"source-ref", NULL};
        json_t *attrs = json_object_get(src, "AttributeNames");
        if (json_array_size(attrs) > 0) {
            size_t i, k = 0;
            json_t *a;
            json_array_foreach(attrs, i, a) if (k < 16) names[k++] =
                json_string_value(a);
            names[k] = NULL;
        }
        rc = read_object_text(s, bucket, key, &text, d);
        if (!rc &&
            manifest_parse_augmented(buf_cstr(&text), text.len, names, &man, d))
            rc = diag_wrap(d, KILN_EINVAL, "ClientError: ");
        buf_release(&text);
        if (rc)
            return rc;
        for (size_t i = 0; !rc && i < man.n; i++) {
            const char *okey;
            if (objstore_uri_split(man.entries[i], bucket, bsize, &okey) != 0) {
                rc = diag_set(d, KILN_EINVAL,
                              "ClientError: '%s' is not an s3:// URI",
                              man.entries[i]);
                break;
            }
            rc = inputs_owned_bucket(s, bucket, d);
            const char *slash = strrchr(okey, '/');
            if (!rc)
                keys_add(l, okey, slash ? slash + 1 : okey);
        }
        manifest_release(&man);
        if (rc)
            return rc;
    } else {
        return diag_set(d, KILN_EINVAL,
                        "ClientError: S3DataType %s is not supported by "
                        "kiln yet.",
                        type);
    }
    if (l->n == 0)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: Data download failed: no objects "
                        "were found under %s",
                        uri);
    return 0;
}

/* ---- whole directories ----------------------------------------------- */

struct upload {
    const struct inputs_src *s;
    char bucket[64];
    const char *prefix;
    bool (*want)(void *ctx, const char *file, const char *rel);
    void *ctx;
    size_t files;
    int rc;
    struct kiln_diag *d;
};

static void upload_file(void *ctx, const char *file, const char *rel)
{
    struct upload *u = ctx;
    struct buf key = BUF_INIT(2048);
    if (u->rc || !*rel || (u->want && !u->want(u->ctx, file, rel)))
        return;
    buf_addf(&key, "%s%s%s", u->prefix,
             *u->prefix && u->prefix[strlen(u->prefix) - 1] != '/' ? "/" : "",
             rel);
    u->rc = objstore_put_path(u->s->store, u->bucket, buf_cstr(&key), file,
                              NULL, u->d);
    u->files++;
    buf_release(&key);
}

int inputs_upload_dir(const struct inputs_src *s, const char *dir,
                      const char *uri,
                      bool (*want)(void *ctx, const char *file,
                                   const char *rel),
                      void *ctx, size_t *files, struct kiln_diag *d)
{
    struct upload u = {.s = s, .want = want, .ctx = ctx, .d = d};

    if (objstore_uri_split(uri, u.bucket, sizeof(u.bucket), &u.prefix) != 0)
        return diag_set(d, KILN_EINVAL, "ClientError: bad S3Uri %s", uri);
    int rc = inputs_owned_bucket(s, u.bucket, d);
    if (rc)
        return rc;
    fsx_walk(dir, upload_file, &u);
    if (files)
        *files = u.files;
    return u.rc;
}

static int copy_object(const struct inputs_src *s, const char *bucket,
                       const char *key, const char *dest, struct kiln_diag *d)
{
    char chunk[65536];
    ssize_t n = 0;
    int in, out, rc = objstore_open_object(s->store, bucket, key, &in, d);

    if (rc)
        return rc;
    out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        rc = diag_set(d, KILN_EIO, "cannot create %s: %s", dest,
                      strerror(errno));
    while (!rc && (n = read(in, chunk, sizeof(chunk))) > 0)
        if (write(out, chunk, (size_t)n) != n)
            rc = diag_set(d, KILN_EIO, "cannot write %s: %s", dest,
                          strerror(errno));
    if (!rc && n < 0)
        rc = diag_set(d, KILN_EIO, "cannot read s3://%s/%s", bucket, key);
    if (out >= 0)
        close(out);
    close(in);
    return rc;
}

int inputs_copy_prefix(const struct inputs_src *s, const char *uri,
                       const char *dir, size_t *files, struct kiln_diag *d)
{
    struct inputs_src within = *s;
    struct keylist l = {0};
    struct buf dest = BUF_INIT(8192);
    const char *key;
    char bucket[64];
    int rc;

    if (objstore_uri_split(uri, bucket, sizeof(bucket), &key) != 0)
        return diag_set(d, KILN_EINVAL, "ClientError: bad S3Uri %s", uri);
    rc = inputs_owned_bucket(s, bucket, d);
    if (rc)
        return rc;
    within.within_prefix = true;
    json_t *src =
        json_pack("{s:s, s:s}", "S3DataType", "S3Prefix", "S3Uri", uri);
    /* The bucket is the account's: the only failure left is an empty
     * prefix, which is no error here (nothing saved yet). */
    if (inputs_resolve(&within, src, &l, bucket, sizeof(bucket), d) != 0)
        keys_free(&l);
    for (size_t i = 0; !rc && i < l.n; i++) {
        if (!fsx_safe_relpath(l.rel[i]))
            continue;
        buf_reset(&dest);
        buf_addf(&dest, "%s/%s", dir, l.rel[i]);
        fsx_make_parents(dest.data, strlen(dir));
        rc = copy_object(s, bucket, l.keys[i], buf_cstr(&dest), d);
    }
    if (files)
        *files = l.n;
    json_decref(src);
    keys_free(&l);
    buf_release(&dest);
    return rc;
}
