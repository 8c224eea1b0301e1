/*
 * inputs.c - the S3 objects a job reads (a training channel, a transform
 * job's input): an S3Prefix's objects in key order, or a manifest's.
 */
#include "cmd/inputs.h"

#include <string.h>
#include <unistd.h>

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
