/*
 * s3.c - S3 operations: routing by method, path and sub-resource, then one
 * function per operation.
 *
 * Object writes stream: the request body goes through the aws-chunked
 * decoder (when the client framed it) into an objstore writer, which
 * computes MD5 (the ETag) and whichever checksums the client asked to be
 * verified. Nothing is indexed until every check has passed and the blob
 * is durable, so a failed upload leaves nothing behind. Reads are served
 * from the blob file with sendfile.
 */
#include "s3/s3.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "auth/chunked.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "http/awserr.h"
#include "s3/cors.h"
#include "s3/s3xml.h"

#define XML_NS        "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_HEAD      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define MAX_KEY_BYTES 1024
#define MAX_PUT_BYTES (5ull << 30)
#define MIN_PART      (5u << 20)
#define XML_BODY_MAX  (4u << 20)
#define MAX_QPARAMS   64
#define MAX_TAGS      10 /* per object */

enum op {
    OP_LIST_BUCKETS,
    OP_CREATE_BUCKET,
    OP_HEAD_BUCKET,
    OP_DELETE_BUCKET,
    OP_BUCKET_LOCATION,
    OP_LIST_V1,
    OP_LIST_V2,
    OP_LIST_VERSIONS,
    OP_GET_VERSIONING,
    OP_LIST_UPLOADS,
    OP_DELETE_OBJECTS,
    OP_PUT_OBJECT,
    OP_COPY_OBJECT,
    OP_UPLOAD_PART,
    OP_UPLOAD_PART_COPY,
    OP_GET_OBJECT,
    OP_HEAD_OBJECT,
    OP_LIST_PARTS,
    OP_DELETE_OBJECT,
    OP_ABORT_UPLOAD,
    OP_CREATE_UPLOAD,
    OP_COMPLETE_UPLOAD,
    OP_PUT_TAGGING,
    OP_GET_TAGGING,
    OP_DELETE_TAGGING,
    OP_PUT_CORS,
    OP_GET_CORS,
    OP_DELETE_CORS,
    OP_GET_BUCKET_ACL,
    OP_PUT_BUCKET_ACL,
    OP_GET_OBJECT_ACL,
    OP_PUT_OBJECT_ACL,
    OP_PUT_OWNERSHIP,
    OP_PUT_PUBLIC_BLOCK,
    OP_BUCKET_DEFAULT, /* one of bucket_defaults[] */
    OP_UNSUPPORTED,
};

static const char *const op_names[] = {
    [OP_LIST_BUCKETS] = "ListBuckets",
    [OP_CREATE_BUCKET] = "CreateBucket",
    [OP_HEAD_BUCKET] = "HeadBucket",
    [OP_DELETE_BUCKET] = "DeleteBucket",
    [OP_BUCKET_LOCATION] = "GetBucketLocation",
    [OP_LIST_V1] = "ListObjects",
    [OP_LIST_V2] = "ListObjectsV2",
    [OP_LIST_VERSIONS] = "ListObjectVersions",
    [OP_GET_VERSIONING] = "GetBucketVersioning",
    [OP_LIST_UPLOADS] = "ListMultipartUploads",
    [OP_DELETE_OBJECTS] = "DeleteObjects",
    [OP_PUT_OBJECT] = "PutObject",
    [OP_COPY_OBJECT] = "CopyObject",
    [OP_UPLOAD_PART] = "UploadPart",
    [OP_UPLOAD_PART_COPY] = "UploadPartCopy",
    [OP_GET_OBJECT] = "GetObject",
    [OP_HEAD_OBJECT] = "HeadObject",
    [OP_LIST_PARTS] = "ListParts",
    [OP_DELETE_OBJECT] = "DeleteObject",
    [OP_ABORT_UPLOAD] = "AbortMultipartUpload",
    [OP_CREATE_UPLOAD] = "CreateMultipartUpload",
    [OP_COMPLETE_UPLOAD] = "CompleteMultipartUpload",
    [OP_PUT_TAGGING] = "PutObjectTagging",
    [OP_GET_TAGGING] = "GetObjectTagging",
    [OP_DELETE_TAGGING] = "DeleteObjectTagging",
    [OP_PUT_CORS] = "PutBucketCors",
    [OP_GET_CORS] = "GetBucketCors",
    [OP_DELETE_CORS] = "DeleteBucketCors",
    [OP_GET_BUCKET_ACL] = "GetBucketAcl",
    [OP_PUT_BUCKET_ACL] = "PutBucketAcl",
    [OP_GET_OBJECT_ACL] = "GetObjectAcl",
    [OP_PUT_OBJECT_ACL] = "PutObjectAcl",
    [OP_PUT_OWNERSHIP] = "PutBucketOwnershipControls",
    [OP_PUT_PUBLIC_BLOCK] = "PutPublicAccessBlock",
    [OP_BUCKET_DEFAULT] = "-",
    [OP_UNSUPPORTED] = "-",
};

/*
 * Bucket configurations kiln has none of: a GET answers as S3 does for a
 * bucket where they were never set (its error, or the default), and with
 * kiln's fixed settings: nothing public, ACLs disabled (Object Ownership
 * BucketOwnerEnforced, S3's default for new buckets). Setting any of them
 * stays NotImplemented.
 */
static const struct bucket_default {
    const char *query, *op;
    int error;        /* KILN_E..., or 0 for a 200 with `text` */
    const char *text; /* the error's message, or the XML body */
} bucket_defaults[] = {
    {"policy", "GetBucketPolicy", KILN_ENOPOLICY,
     "The bucket policy does not exist"},
    {"lifecycle", "GetBucketLifecycleConfiguration", KILN_ENOLIFECYCLE,
     "The lifecycle configuration does not exist"},
    {"encryption", "GetBucketEncryption", KILN_ENOENCRYPTION,
     "The server side encryption configuration was not found"},
    {"tagging", "GetBucketTagging", KILN_ENOTAGSET,
     "The TagSet does not exist"},
    {"website", "GetBucketWebsite", KILN_ENOWEBSITE,
     "The specified bucket does not have a website configuration"},
    {"replication", "GetBucketReplication", KILN_ENOREPLICATION,
     "The replication configuration was not found"},
    {"object-lock", "GetObjectLockConfiguration", KILN_ENOOBJECTLOCK,
     "Object Lock configuration does not exist for this bucket"},
    {"logging", "GetBucketLogging", 0,
     "<BucketLoggingStatus xmlns=\"" XML_NS "\"/>"},
    {"requestPayment", "GetBucketRequestPayment", 0,
     "<RequestPaymentConfiguration xmlns=\"" XML_NS "\"><Payer>BucketOwner"
     "</Payer></RequestPaymentConfiguration>"},
    {"accelerate", "GetBucketAccelerateConfiguration", 0,
     "<AccelerateConfiguration xmlns=\"" XML_NS "\"/>"},
    {"notification", "GetBucketNotificationConfiguration", 0,
     "<NotificationConfiguration xmlns=\"" XML_NS "\"/>"},
    {"publicAccessBlock", "GetPublicAccessBlock", 0,
     "<PublicAccessBlockConfiguration xmlns=\"" XML_NS "\"><BlockPublicAcls>"
     "true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls>"
     "<BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true"
     "</RestrictPublicBuckets></PublicAccessBlockConfiguration>"},
    {"ownershipControls", "GetBucketOwnershipControls", 0,
     "<OwnershipControls xmlns=\"" XML_NS "\"><Rule><ObjectOwnership>"
     "BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>"},
};

void s3_op_each(void (*fn)(void *ctx, const char *name), void *ctx)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(op_names); i++)
        if (i != OP_UNSUPPORTED && i != OP_BUCKET_DEFAULT)
            fn(ctx, op_names[i]);
    for (size_t i = 0; i < KILN_ARRAY_LEN(bucket_defaults); i++)
        fn(ctx, bucket_defaults[i].op);
}

struct qparam {
    char *name;
    char *value;
};

/* The checksum a client asked to be verified, by algorithm. */
struct checksum {
    const char *alg;    /* "crc32", "crc32c", "sha1", "sha256" or NULL */
    char expected[128]; /* base64 value from header or trailer */
    bool from_trailer;
};

struct s3_req {
    enum op op;
    char *bucket;
    char *key; /* decoded, NULL for bucket/service operations */
    struct qparam q[MAX_QPARAMS];
    size_t nq;
    char account[13];
    char expected_owner[64]; /* x-amz-expected-bucket-owner, or "" */
    const struct s3_ctx *s;

    /* Streaming upload state. */
    bool streaming;
    struct objstore_writer w;
    bool writer_open;
    bool chunked_on;
    struct chunked ch;
    char payload_hash[80];
    struct checksum ck;
    int part_number;
    int part_alg;          /* the upload's checksum_algs entry, or -1 */
    json_t *tags;          /* x-amz-tagging, checked: {"key": "value"} */
    struct kiln_diag diag; /* detail for a sink error */
};

/* ---- small helpers ---------------------------------------------------- */

static const char *qget(const struct s3_req *q, const char *name)
{
    for (size_t i = 0; i < q->nq; i++)
        if (strcmp(q->q[i].name, name) == 0)
            return q->q[i].value;
    return NULL;
}

static bool qhas(const struct s3_req *q, const char *name)
{
    return qget(q, name) != NULL;
}

/* Decodes the query's parameters into q; false when one of them is not
 * UTF-8 text. */
static bool parse_query(struct s3_req *q, const char *query)
{
    const char *p = query;
    bool text = true;
    while (*p && q->nq < MAX_QPARAMS) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        if (len) {
            struct buf n = BUF_INIT(8192), v = BUF_INIT(8192);
            str_url_decode(p, nlen, true, &n);
            if (eq)
                str_url_decode(eq + 1, len - nlen - 1, true, &v);
            text = text && str_utf8_valid(n.data, n.len) &&
                   str_utf8_valid(v.data, v.len);
            q->q[q->nq].name = buf_detach(&n, NULL);
            q->q[q->nq].value = buf_detach(&v, NULL);
            q->nq++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return text;
}

bool s3_bucket_name_valid(const char *name)
{
    size_t n = strlen(name);
    bool ipish = true;
    int dots = 0;

    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-')
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
        if (c == '.' && name[i + 1] == '.')
            return false;
        if (c == '.')
            dots++;
        else if (!(c >= '0' && c <= '9'))
            ipish = false;
    }
    return !(ipish && dots == 3);
}

static void xml_escaped(struct buf *b, const char *s)
{
    awserr_xml_escape(b, s);
}

/* Appends <name>value</name>, URL-encoding value when `url`. */
static void xml_elem(struct buf *b, const char *name, const char *value,
                     bool url)
{
    buf_addf(b, "<%s>", name);
    if (url) {
        static const char hexd[] = "0123456789ABCDEF";
        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
            bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                        (*p >= '0' && *p <= '9') || strchr("-_.~/", *p);
            if (keep)
                buf_addc(b, (char)*p);
            else
                buf_addf(b, "%%%c%c", hexd[*p >> 4], hexd[*p & 15]);
        }
    } else {
        xml_escaped(b, value);
    }
    buf_addf(b, "</%s>", name);
}

static void respond_xml(struct http_request *r, int status, struct buf *b)
{
    http_respond(r, status, "application/xml", b->data, b->len);
    awserr_request_id_headers(r, KILN_PROTO_S3);
}

static void respond_empty(struct http_request *r, int status)
{
    http_respond(r, status, NULL, NULL, 0);
    awserr_request_id_headers(r, KILN_PROTO_S3);
}

static void fail(struct http_request *r, int code, const char *msg,
                 const struct s3_req *q)
{
    struct buf extra = BUF_INIT(8192);
    if (q && q->key && (code == KILN_ENOTFOUND)) {
        buf_adds(&extra, "<Key>");
        xml_escaped(&extra, q->key);
        buf_adds(&extra, "</Key>");
    } else if (q && q->bucket && code == KILN_ENOBUCKET) {
        buf_adds(&extra, "<BucketName>");
        xml_escaped(&extra, q->bucket);
        buf_adds(&extra, "</BucketName>");
    }
    awserr_respond(r, KILN_PROTO_S3, code, msg,
                   extra.len ? buf_cstr(&extra) : NULL);
    buf_release(&extra);
}

static void fail_diag(struct http_request *r, const struct kiln_diag *d,
                      const struct s3_req *q)
{
    fail(r, d->code ? d->code : KILN_EINTERNAL, d->msg, q);
}

static int b64_decode(const char *in, uint8_t *out, size_t max)
{
    size_t n = strlen(in);
    uint8_t tmp[128];
    int len;

    if (n == 0 || n % 4 || n > sizeof(tmp) / 3 * 4)
        return -1;
    len = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    if ((size_t)len > max)
        return -1;
    memcpy(out, tmp, (size_t)len);
    return len;
}

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The bucket, checked to exist and to belong to the caller. */
static int own_bucket(const struct s3_req *q, struct meta_bucket *b,
                      struct kiln_diag *d)
{
    int rc = meta_bucket_get(q->s->meta, q->bucket, b);
    if (rc)
        return diag_set(d, KILN_ENOBUCKET,
                        "The specified bucket does not exist");
    if (strcmp(b->account, q->account) != 0 ||
        (q->expected_owner[0] && strcmp(b->account, q->expected_owner) != 0))
        return diag_set(d, KILN_EACCESS, "Access Denied");
    return 0;
}

/* ---- routing ----------------------------------------------------------- */

static const struct bucket_default *bucket_default_of(const struct s3_req *q)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(bucket_defaults); i++)
        if (qhas(q, bucket_defaults[i].query))
            return &bucket_defaults[i];
    return NULL;
}

static const char *op_name(const struct s3_req *q)
{
    return q->op == OP_BUCKET_DEFAULT ? bucket_default_of(q)->op
                                      : op_names[q->op];
}

static enum op route(const struct s3_req *q, const char *method,
                     struct http_request *r)
{
    bool copy = http_request_header(r, "x-amz-copy-source") != NULL;

    if (!q->bucket)
        return strcmp(method, "GET") == 0 ? OP_LIST_BUCKETS : OP_UNSUPPORTED;
    if (!q->key && qhas(q, "cors"))
        return strcmp(method, "PUT") == 0      ? OP_PUT_CORS
               : strcmp(method, "GET") == 0    ? OP_GET_CORS
               : strcmp(method, "DELETE") == 0 ? OP_DELETE_CORS
                                               : OP_UNSUPPORTED;
    if (qhas(q, "acl") && !qhas(q, "versionId"))
        return strcmp(method, "GET") == 0
                   ? q->key ? OP_GET_OBJECT_ACL : OP_GET_BUCKET_ACL
               : strcmp(method, "PUT") == 0
                   ? q->key ? OP_PUT_OBJECT_ACL : OP_PUT_BUCKET_ACL
                   : OP_UNSUPPORTED;
    if (!q->key && strcmp(method, "GET") == 0 && bucket_default_of(q))
        return OP_BUCKET_DEFAULT;
    if (!q->key && strcmp(method, "PUT") == 0 && qhas(q, "ownershipControls"))
        return OP_PUT_OWNERSHIP;
    if (!q->key && strcmp(method, "PUT") == 0 && qhas(q, "publicAccessBlock"))
        return OP_PUT_PUBLIC_BLOCK;
    if (!q->key) {
        if (strcmp(method, "PUT") == 0)
            return q->nq == 0 || qhas(q, "x-id") ? OP_CREATE_BUCKET
                                                 : OP_UNSUPPORTED;
        if (strcmp(method, "HEAD") == 0)
            return OP_HEAD_BUCKET;
        if (strcmp(method, "DELETE") == 0)
            return q->nq == 0 || qhas(q, "x-id") ? OP_DELETE_BUCKET
                                                 : OP_UNSUPPORTED;
        if (strcmp(method, "POST") == 0)
            return qhas(q, "delete") ? OP_DELETE_OBJECTS : OP_UNSUPPORTED;
        if (strcmp(method, "GET") == 0) {
            if (qhas(q, "location"))
                return OP_BUCKET_LOCATION;
            if (qhas(q, "uploads"))
                return OP_LIST_UPLOADS;
            /* Buckets are never versioned: each key has one version,
             * "null", as in a bucket that never had versioning on. */
            if (qhas(q, "versions"))
                return OP_LIST_VERSIONS;
            if (qhas(q, "versioning"))
                return OP_GET_VERSIONING;
            static const char *const unsupported[] = {"acl", "analytics",
                                                      "metrics", "inventory",
                                                      "intelligent-tiering"};
            for (size_t i = 0; i < KILN_ARRAY_LEN(unsupported); i++)
                if (qhas(q, unsupported[i]))
                    return OP_UNSUPPORTED;
            const char *lt = qget(q, "list-type");
            return lt && strcmp(lt, "2") == 0 ? OP_LIST_V2 : OP_LIST_V1;
        }
        return OP_UNSUPPORTED;
    }
    if (strcmp(method, "PUT") == 0) {
        if (qhas(q, "partNumber") && qhas(q, "uploadId"))
            return copy ? OP_UPLOAD_PART_COPY : OP_UPLOAD_PART;
        if (qhas(q, "tagging"))
            return OP_PUT_TAGGING;
        if (qhas(q, "acl") || qhas(q, "retention") || qhas(q, "legal-hold"))
            return OP_UNSUPPORTED;
        return copy ? OP_COPY_OBJECT : OP_PUT_OBJECT;
    }
    if (strcmp(method, "GET") == 0) {
        if (qhas(q, "uploadId"))
            return OP_LIST_PARTS;
        if (qhas(q, "tagging"))
            return OP_GET_TAGGING;
        if (qhas(q, "acl") || qhas(q, "attributes") || qhas(q, "torrent") ||
            qhas(q, "retention") || qhas(q, "legal-hold"))
            return OP_UNSUPPORTED;
        return OP_GET_OBJECT;
    }
    if (strcmp(method, "HEAD") == 0)
        return OP_HEAD_OBJECT;
    if (strcmp(method, "DELETE") == 0)
        return qhas(q, "uploadId")  ? OP_ABORT_UPLOAD
               : qhas(q, "tagging") ? OP_DELETE_TAGGING
                                    : OP_DELETE_OBJECT;
    if (strcmp(method, "POST") == 0) {
        if (qhas(q, "uploads"))
            return OP_CREATE_UPLOAD;
        if (qhas(q, "uploadId"))
            return OP_COMPLETE_UPLOAD;
    }
    return OP_UNSUPPORTED;
}

/* The bucket named by a virtual-hosted Host ("<bucket>.<domain>[:port]"),
 * or NULL for path-style requests. Owned by the caller. */
static char *host_bucket(const char *host, const char *domain)
{
    size_t hlen, dlen = domain ? strlen(domain) : 0;
    const char *colon;

    if (!host || !dlen)
        return NULL;
    colon = strrchr(host, ':');
    hlen = colon ? (size_t)(colon - host) : strlen(host);
    if (hlen <= dlen + 1 || host[hlen - dlen - 1] != '.' ||
        strncasecmp(host + hlen - dlen, domain, dlen) != 0)
        return NULL;
    return xstrndup(host, hlen - dlen - 1);
}

/* Splits the raw path into bucket and decoded key. */
static int split_path(struct s3_req *q, const char *path, const char *host,
                      const char *domain, struct kiln_diag *d)
{
    struct buf dec = BUF_INIT(64 * 1024);
    const char *p, *slash;
    int rc = 0;

    str_url_decode(path, strlen(path), false, &dec);
    p = buf_cstr(&dec);
    if (*p == '/')
        p++;
    /* Keys are UTF-8 text, as S3 has them; nothing else is stored. */
    if (!str_utf8_valid(dec.data, dec.len)) {
        buf_release(&dec);
        return diag_set(d, KILN_EBADURI, "Couldn't parse the specified URI.");
    }
    q->bucket = host_bucket(host, domain);
    if (q->bucket) {
        if (*p) {
            if (strlen(p) > MAX_KEY_BYTES)
                rc = diag_set(d, KILN_EKEYTOOLONG, "Your key is too long");
            q->key = xstrdup(p);
        }
    } else if (*p) {
        slash = strchr(p, '/');
        q->bucket = xstrndup(p, slash ? (size_t)(slash - p) : strlen(p));
        if (slash && slash[1]) {
            if (strlen(slash + 1) > MAX_KEY_BYTES)
                rc = diag_set(d, KILN_EKEYTOOLONG, "Your key is too long");
            q->key = xstrdup(slash + 1);
        }
    }
    buf_release(&dec);
    return rc;
}

/* ---- headers stored with an object ---------------------------------- */

static bool stored_header(const char *name)
{
    static const char *const keep[] = {
        "content-disposition",
        "content-language",
        "cache-control",
        "expires",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-storage-class",
        "x-amz-website-redirect-location"};
    if (strncasecmp(name, "x-amz-meta-", 11) == 0)
        return true;
    for (size_t i = 0; i < KILN_ARRAY_LEN(keep); i++)
        if (strcasecmp(name, keep[i]) == 0)
            return true;
    return false;
}

/* JSON text of the response headers to store for this request, with
 * the tags of its x-amz-tagging header. */
/* Metadata is kept as JSON text, so it must be UTF-8: a value in another
 * encoding is refused rather than dropped. */
static int stored_headers_valid(struct http_request *r, struct kiln_diag *d)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        if (stored_header(n) &&
            (!str_utf8_valid(n, strlen(n)) || !str_utf8_valid(v, strlen(v))))
            return diag_set(d, KILN_EINVAL,
                            "The value of header %.64s is not UTF-8 text.",
                            str_utf8_valid(n, strlen(n)) ? n : "(not UTF-8)");
    }
    return 0;
}

static char *headers_json(struct http_request *r, const struct s3_req *q)
{
    json_t *o = json_object();
    char *text;

    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name;
        if (!stored_header(n))
            continue;
        char *lower = xstrdup(n);
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        json_object_set_new(o, lower, json_string(r->headers[i].value));
        mem_free(lower);
    }
    /* Content-Encoding without the aws-chunked framing token. */
    const char *ce = http_request_header(r, "Content-Encoding");
    if (ce) {
        struct buf kept = BUF_INIT(1024);
        const char *p = ce;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            while (len && *p == ' ') {
                p++;
                len--;
            }
            if (len && !(len == 11 && strncasecmp(p, "aws-chunked", 11) == 0))
                buf_addf(&kept, "%s%.*s", kept.len ? "," : "", (int)len, p);
            p += len;
            if (*p == ',')
                p++;
        }
        if (kept.len)
            json_object_set_new(o, "content-encoding",
                                json_string(buf_cstr(&kept)));
        buf_release(&kept);
    }
    if (q->tags && json_object_size(q->tags))
        json_object_set(o, "tagging", q->tags);
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* The stored headers as response headers; a GET also says how many tags
 * the object has. */
static void add_stored_headers(struct http_request *r, const char *json,
                               bool tag_count)
{
    json_t *o = json_loads(json ? json : "{}", 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (json_is_string(v))
            http_response_header(r, k, json_string_value(v));
    }
    size_t ntags = json_object_size(json_object_get(o, "tagging"));
    if (tag_count && ntags) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", ntags);
        http_response_header(r, "x-amz-tagging-count", n);
    }
    json_decref(o);
}

/* ---- object tags ------------------------------------------------------ */

/* Unicode characters in a UTF-8 string: its bytes that start one. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Adds one tag to set, checked as S3 checks a tag. */
static int tag_add(json_t *set, const char *key, const char *value,
                   struct kiln_diag *d)
{
    size_t kn = utf8_chars(key);
    if (kn == 0 || kn > 128)
        return diag_set(d, KILN_EBADTAG,
                        "The TagKey you have provided is invalid");
    if (utf8_chars(value) > 256)
        return diag_set(d, KILN_EBADTAG,
                        "The TagValue you have provided is invalid");
    if (str_starts(key, "aws:"))
        return diag_set(d, KILN_EBADTAG,
                        "Your TagKey cannot be prefixed with aws:");
    if (json_object_get(set, key))
        return diag_set(d, KILN_EBADTAG,
                        "Cannot provide multiple Tags with the same key");
    json_t *v = json_string(value); /* NULL unless UTF-8 */
    if (!v)
        return diag_set(d, KILN_EBADTAG,
                        "The TagValue you have provided is invalid");
    if (json_object_set_new(set, key, v) != 0)
        return diag_set(d, KILN_EBADTAG,
                        "The TagKey you have provided is invalid");
    return 0;
}

static int tags_counted(json_t *set, struct kiln_diag *d)
{
    if (json_object_size(set) > MAX_TAGS)
        return diag_set(d, KILN_ETAGLIMIT,
                        "Object tags cannot be greater than %d", MAX_TAGS);
    return 0;
}

/* The tags of an x-amz-tagging header: "k1=v1&k2=v2", URL-encoded. */
static int tags_from_header(const char *h, json_t **out, struct kiln_diag *d)
{
    json_t *set = json_object();
    struct buf k = BUF_INIT(8192), v = BUF_INIT(8192);
    int rc = 0;

    for (const char *p = h; *p && rc == 0;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        size_t kn = eq ? (size_t)(eq - p) : n;
        buf_reset(&k);
        buf_reset(&v);
        if (n &&
            (str_url_decode(p, kn, true, &k) != 0 ||
             (eq && str_url_decode(eq + 1, n - kn - 1, true, &v) != 0) ||
             strlen(buf_cstr(&k)) != k.len || strlen(buf_cstr(&v)) != v.len ||
             json_object_get(set, buf_cstr(&k))))
            rc = diag_set(d, KILN_EINVAL,
                          "The header 'x-amz-tagging' shall be encoded as "
                          "UTF-8 then URLEncoded URL query parameters without "
                          "tag name duplicates.");
        else if (n)
            rc = tag_add(set, buf_cstr(&k), buf_cstr(&v), d);
        p += n;
        if (*p == '&')
            p++;
    }
    buf_release(&k);
    buf_release(&v);
    if (!rc)
        rc = tags_counted(set, d);
    if (rc) {
        json_decref(set);
        return rc;
    }
    *out = set;
    return 0;
}

/* The stored-headers JSON with its tag set replaced (NULL or empty:
 * none). Owned by the caller. */
static char *headers_with_tags(const char *headers, json_t *tags)
{
    json_t *o = json_loads(headers ? headers : "{}", 0, NULL);
    char *text;

    if (!o)
        o = json_object();
    if (tags && json_object_size(tags))
        json_object_set(o, "tagging", tags);
    else
        json_object_del(o, "tagging");
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* ---- streaming uploads ---------------------------------------------- */

static int emit(void *ctx, const char *data, size_t len)
{
    struct s3_req *q = ctx;
    return objstore_writer_write(&q->w, data, len, &q->diag);
}

static int sink(struct http_request *r, const char *data, size_t len)
{
    struct s3_req *q = r->sink_ctx;
    if (q->chunked_on)
        return chunked_feed(&q->ch, data, len, &q->diag);
    return objstore_writer_write(&q->w, data, len, &q->diag);
}

static const struct {
    const char *alg;
    const char *header;
    unsigned digest;
    const char *xml;  /* the element in CompleteMultipartUpload, ListParts */
    const char *name; /* as x-amz-checksum-algorithm says it */
} checksum_algs[] = {
    {"crc32", "x-amz-checksum-crc32", OBJSTORE_CRC32, "ChecksumCRC32", "CRC32"},
    {"crc32c", "x-amz-checksum-crc32c", OBJSTORE_CRC32C, "ChecksumCRC32C",
     "CRC32C"},
    {"sha1", "x-amz-checksum-sha1", OBJSTORE_SHA1, "ChecksumSHA1", "SHA1"},
    {"sha256", "x-amz-checksum-sha256", OBJSTORE_SHA256, "ChecksumSHA256",
     "SHA256"},
};

/* The checksum_algs entry named `name` in any case ("CRC32"), or -1. */
static int checksum_alg(const char *name)
{
    for (size_t i = 0; name && i < KILN_ARRAY_LEN(checksum_algs); i++)
        if (strcasecmp(name, checksum_algs[i].alg) == 0)
            return (int)i;
    return -1;
}

/* The checksum algorithm a multipart upload was created with (kept in its
 * headers JSON), or -1; *full when its type is FULL_OBJECT (else
 * COMPOSITE). */
static int upload_alg(const char *headers, bool *full)
{
    json_t *h = json_loads(headers ? headers : "{}", 0, NULL);
    int alg = checksum_alg(
        json_string_value(json_object_get(h, "checksum-algorithm")));
    if (full)
        *full = json_object_get(h, "checksum-type") != NULL;
    json_decref(h);
    return alg;
}

/* A digest as S3 writes it: base64 of its bytes, a CRC big-endian. */
static void checksum_b64(int alg, uint32_t crc, const uint8_t *raw,
                         char out[64])
{
    uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16),
                     (uint8_t)(crc >> 8), (uint8_t)crc};
    if (checksum_algs[alg].digest & (OBJSTORE_CRC32 | OBJSTORE_CRC32C))
        b64_encode(be, 4, out);
    else
        b64_encode(raw, checksum_algs[alg].digest & OBJSTORE_SHA1 ? 20 : 32,
                   out);
}

/* The checksum `alg` of what a committed writer stored. */
static void writer_checksum(const struct objstore_writer *w, int alg,
                            char out[64])
{
    unsigned dg = checksum_algs[alg].digest;
    checksum_b64(alg, dg & OBJSTORE_CRC32 ? w->crc32 : w->crc32c,
                 dg & OBJSTORE_SHA1 ? w->sha1_out : w->sha256_out, out);
}

/* Which checksum to verify: a header with a value, or a named trailer. */
static unsigned pick_checksum(struct s3_req *q, struct http_request *r)
{
    const char *trailer = http_request_header(r, "x-amz-trailer");
    for (size_t i = 0; i < KILN_ARRAY_LEN(checksum_algs); i++) {
        const char *v = http_request_header(r, checksum_algs[i].header);
        bool presigned = strstr(r->query, "X-Amz-Signature=") != NULL;
        if (v && !presigned) {
            q->ck.alg = checksum_algs[i].alg;
            str_copy(q->ck.expected, v, sizeof(q->ck.expected));
            return checksum_algs[i].digest;
        }
        if (trailer && strcasecmp(trailer, checksum_algs[i].header) == 0) {
            q->ck.alg = checksum_algs[i].alg;
            q->ck.from_trailer = true;
            return checksum_algs[i].digest;
        }
    }
    return 0;
}

static int start_upload(const struct s3_ctx *s, struct http_request *r,
                        struct s3_req *q, const struct auth_result *ar,
                        struct kiln_diag *d)
{
    const char *ph = q->payload_hash;
    const char *ce = http_request_header(r, "Content-Encoding");
    const char *dlen = http_request_header(r, "x-amz-decoded-content-length");
    unsigned digests = pick_checksum(q, r);
    bool stream_sig = str_starts(ph, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    uint64_t size = r->content_length;
    int rc;

    if (str_starts(ph, "STREAMING-") || (ce && strcasestr(ce, "aws-chunked")))
        q->chunked_on = true;
    if (str_starts(ph, "STREAMING-") && !stream_sig &&
        strcmp(ph, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") != 0)
        return diag_set(d, KILN_EBADREQUEST,
                        "The x-amz-content-sha256 value %s is not "
                        "supported.",
                        ph);
    if (dlen) {
        const char *p = dlen;
        if (parse_u64(&p, dlen + strlen(dlen), UINT64_MAX, &size) != 0 || *p)
            return diag_set(d, KILN_EINVAL,
                            "x-amz-decoded-content-length is not a number.");
    }
    if (!r->has_length && !http_request_header(r, "Transfer-Encoding"))
        return diag_set(d, KILN_EINVAL,
                        "You must provide the Content-Length HTTP header.");
    if (size > MAX_PUT_BYTES)
        return diag_set(d, KILN_ETOOBIG,
                        "Your proposed upload exceeds the maximum allowed "
                        "size");
    if (strlen(ph) == 64)
        digests |= OBJSTORE_SHA256;
    if (q->part_alg >= 0)
        digests |= checksum_algs[q->part_alg].digest;
    if (q->op == OP_UPLOAD_PART) {
        /* The declared length, so the part can go in place; 0: unknown. */
        uint64_t known = dlen                              ? size
                         : !q->chunked_on && r->has_length ? size
                                                           : 0;
        rc = objstore_part_open(s->store, qget(q, "uploadId"), q->part_number,
                                known, digests, &q->w, d);
    } else {
        rc = objstore_writer_open(s->store, digests, &q->w, d);
    }
    if (rc)
        return rc;
    q->writer_open = true;
    if (q->chunked_on) {
        char scope[160];
        snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", ar->a.date,
                 ar->a.region, ar->a.service);
        chunked_init(&q->ch, stream_sig, ar->signing_key, ar->a.amz_date, scope,
                     ar->a.signature, emit, q);
    }
    q->streaming = true;
    r->sink_ctx = q;
    r->body_sink = sink;
    return 0;
}

static int hexdigit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : 0;
}

static void hex_decode16(const char *hex, uint8_t out[16])
{
    for (int k = 0; k < 16; k++)
        out[k] =
            (uint8_t)(hexdigit(hex[2 * k]) * 16 + hexdigit(hex[2 * k + 1]));
}

static void hex_to_etag(const uint8_t md5[16], char out[40])
{
    char hex[33];
    str_hex(md5, 16, hex);
    snprintf(out, 40, "\"%s\"", hex);
}

/* Checks a Content-MD5 header (NULL: none sent) against the MD5 of what
 * arrived. */
static int md5_check(const char *header, const uint8_t got[16],
                     struct kiln_diag *d)
{
    uint8_t want[16];

    if (!header)
        return 0;
    if (b64_decode(header, want, sizeof(want)) != 16)
        return diag_set(d, KILN_EBADDIGESTFMT,
                        "The Content-MD5 you specified was invalid.");
    if (memcmp(want, got, 16) != 0)
        return diag_set(d, KILN_EBADDIGEST,
                        "The Content-MD5 you specified did not match what "
                        "we received.");
    return 0;
}

/* Checks every digest the client sent against what arrived. */
static int verify_upload(struct s3_req *q, struct http_request *r,
                         struct kiln_diag *d)
{
    const char *md5h = http_request_header(r, "Content-MD5");
    char trailer[128];

    if (strlen(q->payload_hash) == 64) {
        char got[65];
        str_hex(q->w.sha256_out, 32, got);
        if (strcmp(got, q->payload_hash) != 0)
            return diag_set(d, KILN_EPAYLOADHASH,
                            "The provided 'x-amz-content-sha256' header does "
                            "not match what was computed.");
    }
    int rc = md5_check(md5h, q->w.md5_out, d);
    if (rc)
        return rc;
    if (q->ck.alg && q->ck.from_trailer) {
        char name[64];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", q->ck.alg);
        if (!chunked_trailer(&q->ch, name, trailer, sizeof(trailer)))
            return diag_set(d, KILN_EINCOMPLETE,
                            "The request trailer %s is missing.", name);
        str_copy(q->ck.expected, trailer, sizeof(q->ck.expected));
    }
    if (q->ck.alg) {
        char got[64];
        writer_checksum(&q->w, checksum_alg(q->ck.alg), got);
        if (strcmp(got, q->ck.expected) != 0)
            return diag_set(d, KILN_EBADDIGEST,
                            "The %s you specified did not match the "
                            "calculated checksum.",
                            q->ck.alg);
    }
    return 0;
}

static char *checksums_json(const struct s3_req *q)
{
    json_t *o = json_object();
    char *t;
    if (q->ck.alg)
        json_object_set_new(o, q->ck.alg, json_string(q->ck.expected));
    t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

static void finish_upload(const struct s3_ctx *s, struct http_request *r,
                          struct s3_req *q)
{
    struct kiln_diag d = {0};
    char etag[40], old[META_BLOB_ID] = "", part_sum[64] = "";
    char *headers = NULL, *sums = NULL;
    bool committed = false;
    int rc;

    if (r->sink_error) {
        fail_diag(r, &q->diag, q);
        return;
    }
    if (q->chunked_on) {
        rc = chunked_finish(&q->ch, &d);
        if (rc)
            goto fail;
    }
    const char *dlen = http_request_header(r, "x-amz-decoded-content-length");
    uint64_t want = 0;
    const char *dp = dlen;
    if (dlen && (parse_u64(&dp, dlen + strlen(dlen), UINT64_MAX, &want) != 0 ||
                 want != q->w.size)) {
        rc = diag_set(&d, KILN_EINCOMPLETE,
                      "You did not provide the number of bytes specified "
                      "by the x-amz-decoded-content-length header.");
        goto fail;
    }
    if (!q->chunked_on && r->has_length && r->content_length != q->w.size) {
        rc = diag_set(&d, KILN_EINCOMPLETE,
                      "You did not provide the number of bytes specified "
                      "by the Content-Length HTTP header.");
        goto fail;
    }
    rc = objstore_writer_commit(s->store, &q->w, &d);
    q->writer_open = false;
    if (rc)
        goto fail;
    committed = true;
    rc = verify_upload(q, r, &d);
    if (rc)
        goto fail;
    hex_to_etag(q->w.md5_out, etag);
    if (q->part_alg >= 0)
        writer_checksum(&q->w, q->part_alg, part_sum);
    if (q->op == OP_UPLOAD_PART) {
        struct meta_part p = {.number = q->part_number,
                              .blob = q->w.id,
                              .offset = q->w.base,
                              .size = q->w.size,
                              .etag = etag,
                              .checksum = part_sum,
                              .modified = tm_now()};
        rc = meta_part_put(s->meta, qget(q, "uploadId"), &p, old, &d);
    } else {
        const char *ct = http_request_header(r, "Content-Type");
        headers = headers_json(r, q);
        sums = checksums_json(q);
        struct meta_object o = {
            .bucket = q->bucket,
            .key = q->key,
            .blob = q->w.id,
            .size = q->w.size,
            .etag = etag,
            .modified = tm_now(),
            .content_type = ct ? ct : "binary/octet-stream",
            .headers = headers,
            .checksums = sums,
        };
        rc = meta_object_put(s->meta, &o, old, &d);
    }
    if (rc)
        goto fail;
    /* A replaced part's blob may hold other parts of its upload; an
     * object's blob is its own, even one a CompleteMultipartUpload made
     * in place a moment ago, whose assembly it has not yet ended. */
    objstore_writer_settle(s->store, &q->w, true,
                           q->op == OP_UPLOAD_PART ? old : NULL);
    if (q->op != OP_UPLOAD_PART)
        objstore_blob_unlink(s->store, old);
    respond_empty(r, 200);
    http_response_header(r, "ETag", etag);
    if (q->ck.alg) {
        char name[64];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", q->ck.alg);
        http_response_header(r, name, q->ck.expected);
    }
    if (part_sum[0] && checksum_alg(q->ck.alg) != q->part_alg)
        http_response_header(r, checksum_algs[q->part_alg].header, part_sum);
    mem_free(headers);
    mem_free(sums);
    return;
fail:
    if (committed)
        objstore_writer_settle(s->store, &q->w, false, NULL);
    if (rc == KILN_ENOUPLOAD) /* aborted meanwhile: its assembly too */
        objstore_upload_end(s->store, qget(q, "uploadId"), NULL);
    mem_free(headers);
    mem_free(sums);
    fail_diag(r, &d, q);
}

/* ---- object reads ----------------------------------------------------- */

struct object_copy {
    char blob[META_BLOB_ID];
    uint64_t size;
    char etag[80];
    double modified;
    char *content_type;
    char *headers;
    char *checksums;
    int parts;
    char *part_sizes;
};

static int copy_object_row(void *ctx, const struct meta_object *o)
{
    struct object_copy *c = ctx;
    str_copy(c->blob, o->blob, sizeof(c->blob));
    c->size = o->size;
    str_copy(c->etag, o->etag, sizeof(c->etag));
    c->modified = o->modified;
    c->content_type = xstrdup(o->content_type);
    c->headers = xstrdup(o->headers);
    c->checksums = xstrdup(o->checksums);
    c->parts = o->parts;
    c->part_sizes = xstrdup(o->part_sizes ? o->part_sizes : "");
    return 0;
}

static void object_copy_release(struct object_copy *c)
{
    mem_free(c->content_type);
    mem_free(c->headers);
    mem_free(c->checksums);
    mem_free(c->part_sizes);
    memset(c, 0, sizeof(*c));
}

/* Looks an object up and opens its blob, retrying once if an overwrite
 * removed the blob between the two steps. */
static int open_object(const struct s3_ctx *s, const char *bucket,
                       const char *key, struct object_copy *c, int *fd)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = meta_object_get(s->meta, bucket, key, copy_object_row, c);
        if (rc)
            return rc;
        if (objstore_blob_open(s->store, c->blob, fd) == 0) {
            /* A blob shorter than its row says is damage: answer an
             * error rather than promise bytes that are not there. */
            struct stat st;
            if (fstat(*fd, &st) == 0 && (uint64_t)st.st_size >= c->size)
                return 0;
            log_error("event=blob_short bucket=%s key=\"%.200s\" blob=%s "
                      "size=%llu",
                      bucket, key, c->blob, (unsigned long long)c->size);
            close(*fd);
            *fd = -1;
            object_copy_release(c);
            return KILN_EIO;
        }
        object_copy_release(c);
    }
    return KILN_EIO;
}

static bool etag_matches(const char *list, const char *etag)
{
    /* etag is quoted; list is a comma-separated list of (maybe quoted)
     * tags, or "*". */
    const char *p = list;
    size_t elen = strlen(etag);
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        if (len == 1 && *p == '*')
            return true;
        if (len >= 2 && str_starts(p, "W/")) {
            p += 2;
            len -= 2;
        }
        if ((len == elen && memcmp(p, etag, len) == 0) ||
            (len == elen - 2 && memcmp(p, etag + 1, len) == 0))
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

/* Evaluates the conditional headers; 0, KILN_EPRECONDITION or
 * KILN_ENOTMODIFIED. */
static int conditions(struct http_request *r, const struct object_copy *c)
{
    const char *im = http_request_header(r, "If-Match");
    const char *inm = http_request_header(r, "If-None-Match");
    const char *ims = http_request_header(r, "If-Modified-Since");
    const char *ius = http_request_header(r, "If-Unmodified-Since");
    int64_t t;

    if (im && !etag_matches(im, c->etag))
        return KILN_EPRECONDITION;
    if (!im && ius && tm_parse_http(ius, &t) == 0 && (int64_t)c->modified > t)
        return KILN_EPRECONDITION;
    if (inm && etag_matches(inm, c->etag))
        return KILN_ENOTMODIFIED;
    if (!inm && ims && tm_parse_http(ims, &t) == 0 && (int64_t)c->modified <= t)
        return KILN_ENOTMODIFIED;
    return 0;
}

/* Parses "bytes=a-b|a-|-n" against size; 1 if no usable range, 0 with
 * [*off, *off+*len) set, or KILN_ERANGE. */
static int parse_range(const char *h, uint64_t size, uint64_t *off,
                       uint64_t *len)
{
    const char *p, *end;
    uint64_t a = 0, b = 0;
    bool has_a, has_b;

    if (!h || !str_starts(h, "bytes="))
        return 1;
    p = h + 6;
    end = p + strlen(p);
    if (strchr(p, ','))
        return 1; /* multiple ranges: serve the whole object, as S3 does */
    has_a = parse_u64(&p, end, UINT64_MAX, &a) == 0;
    if (*p != '-')
        return 1;
    p++;
    has_b = parse_u64(&p, end, UINT64_MAX, &b) == 0;
    if (*p)
        return 1;
    if (!has_a && !has_b)
        return 1;
    if (!has_a) { /* suffix: last b bytes */
        if (b == 0 || size == 0)
            return KILN_ERANGE;
        *off = b >= size ? 0 : size - b;
        *len = size - *off;
        return 0;
    }
    if (a >= size)
        return KILN_ERANGE;
    if (!has_b || b >= size)
        b = size - 1;
    if (b < a)
        return 1;
    *off = a;
    *len = b - a + 1;
    return 0;
}

/* The bytes of part n of an object, for GetObject's partNumber: the
 * whole of a single-part object is its part 1. */
static int part_range(const struct object_copy *c, int n, uint64_t *off,
                      uint64_t *len, struct kiln_diag *d)
{
    if (c->parts == 0 && n == 1) {
        *off = 0;
        *len = c->size;
        return 0;
    }
    if (c->parts && !c->part_sizes[0])
        return diag_set(d, KILN_EUNKNOWNOP,
                        "This object was completed by a kiln that did not "
                        "keep its part sizes; read it by Range instead.");
    uint64_t at = 0;
    for (const char *p = c->part_sizes; c->parts && *p;) {
        const char *end = p + strcspn(p, ",");
        uint64_t num, size;
        if (parse_u64(&p, end, 10000, &num) != 0 || *p++ != ':' ||
            parse_u64(&p, end, UINT64_MAX, &size) != 0)
            break;
        if (num == (uint64_t)n) {
            *off = at;
            *len = size;
            return 0;
        }
        at += size;
        if (*p == ',')
            p++;
    }
    return diag_set(d, KILN_EPARTNUMBER,
                    "The requested partnumber is not satisfiable");
}

static void get_object(const struct s3_ctx *s, struct http_request *r,
                       struct s3_req *q, bool head)
{
    struct object_copy c = {0};
    struct kiln_diag d = {0};
    struct meta_bucket b;
    char lm[TM_HTTP_LEN];
    uint64_t off = 0, len;
    int fd = -1, rc, status = 200;

    rc = own_bucket(q, &b, &d);
    if (rc) {
        fail_diag(r, &d, q);
        return;
    }
    rc = open_object(s, q->bucket, q->key, &c, &fd);
    if (rc) {
        fail(r, rc == KILN_ENOTFOUND ? rc : KILN_EIO,
             rc == KILN_ENOTFOUND ? "The specified key does not exist."
                                  : "We encountered an internal error. "
                                    "Please try again.",
             q);
        return;
    }
    len = c.size;
    rc = conditions(r, &c);
    if (rc == KILN_ENOTMODIFIED) {
        close(fd);
        respond_empty(r, 304);
        http_response_header(r, "ETag", c.etag);
        goto out;
    }
    if (rc) {
        close(fd);
        fail(r, rc,
             "At least one of the pre-conditions you specified did "
             "not hold",
             q);
        goto out;
    }
    const char *pn = qget(q, "partNumber");
    if (pn) {
        int64_t n;
        if (parse_i64_str(pn, 1, 10000, &n) != 0)
            rc = diag_set(&d, KILN_EINVAL,
                          "Part number must be an integer between 1 and "
                          "10000, inclusive");
        else if (http_request_header(r, "Range"))
            rc = diag_set(&d, KILN_EBADREQUEST,
                          "Cannot specify both Range header and partNumber "
                          "query parameter");
        else
            rc = part_range(&c, (int)n, &off, &len, &d);
        if (rc) {
            close(fd);
            fail_diag(r, &d, q);
            goto out;
        }
        rc = len ? 0 : 1; /* an empty part is a 200 with no body */
    } else {
        rc = parse_range(http_request_header(r, "Range"), c.size, &off, &len);
    }
    if (rc < 0) {
        char extra[160];
        close(fd);
        snprintf(extra, sizeof(extra),
                 "<ActualObjectSize>%llu</ActualObjectSize>",
                 (unsigned long long)c.size);
        awserr_respond(r, KILN_PROTO_S3, KILN_ERANGE,
                       "The requested range is not satisfiable", extra);
        goto out;
    }
    if (rc == 0)
        status = 206;
    http_respond_fd(r, status, fd, off, len);
    awserr_request_id_headers(r, KILN_PROTO_S3);
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu",
                 (unsigned long long)off, (unsigned long long)(off + len - 1),
                 (unsigned long long)c.size);
        http_response_header(r, "Content-Range", cr);
    }
    tm_format_http((int64_t)c.modified, lm);
    http_response_header(r, "ETag", c.etag);
    http_response_header(r, "Last-Modified", lm);
    http_response_header(r, "Accept-Ranges", "bytes");
    add_stored_headers(r, c.headers, !head);
    static const struct {
        const char *param, *header;
    } overrides[] = {
        {"response-content-type", "Content-Type"},
        {"response-content-disposition", "Content-Disposition"},
        {"response-cache-control", "Cache-Control"},
        {"response-expires", "Expires"},
        {"response-content-language", "Content-Language"},
        {"response-content-encoding", "Content-Encoding"},
    };
    const char *ctype = c.content_type;
    for (size_t i = 0; i < KILN_ARRAY_LEN(overrides); i++) {
        const char *v = qget(q, overrides[i].param);
        if (!v)
            continue;
        if (i == 0)
            ctype = v;
        else
            http_response_header(r, overrides[i].header, v);
    }
    http_response_header(r, "Content-Type", ctype);
    const char *mode = http_request_header(r, "x-amz-checksum-mode");
    if (mode && strcasecmp(mode, "ENABLED") == 0 && status == 200) {
        json_t *sums = json_loads(c.checksums, 0, NULL);
        const char *k;
        json_t *v;
        json_object_foreach(sums, k, v)
        {
            char name[64];
            snprintf(name, sizeof(name), "x-amz-checksum-%s", k);
            http_response_header(r, name, json_string_value(v));
            http_response_header(r, "x-amz-checksum-type",
                                 strchr(json_string_value(v), '-')
                                     ? "COMPOSITE"
                                     : "FULL_OBJECT");
        }
        json_decref(sums);
    }
    if (c.parts) {
        char n[16];
        snprintf(n, sizeof(n), "%d", c.parts);
        http_response_header(r, "x-amz-mp-parts-count", n);
    }
out:
    object_copy_release(&c);
}

/* ---- buckets ---------------------------------------------------------- */

struct list_buckets {
    struct buf *b;
};

static int bucket_xml(void *ctx, const struct meta_bucket *bk)
{
    struct buf *b = ctx;
    char t[TM_ISO_LEN];
    tm_format_iso(bk->created, t);
    buf_adds(b, "<Bucket>");
    xml_elem(b, "Name", bk->name, false);
    buf_addf(b, "<CreationDate>%s</CreationDate></Bucket>", t);
    return 0;
}

static void owner_xml(struct buf *b, const char *account)
{
    buf_addf(b, "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>",
             account, account);
}

static void list_buckets(const struct s3_ctx *s, struct http_request *r,
                         struct s3_req *q)
{
    struct buf b = BUF_INIT(64u << 20);
    buf_adds(&b, XML_HEAD "<ListAllMyBucketsResult xmlns=\"" XML_NS "\">");
    owner_xml(&b, q->account);
    buf_adds(&b, "<Buckets>");
    meta_bucket_each(s->meta, q->account, bucket_xml, &b);
    buf_adds(&b, "</Buckets></ListAllMyBucketsResult>");
    respond_xml(r, 200, &b);
    buf_release(&b);
}

static void create_bucket(const struct s3_ctx *s, struct http_request *r,
                          struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b = {0};
    char loc[64];
    struct buf where = BUF_INIT(256);

    if (!s3_bucket_name_valid(q->bucket)) {
        fail(r, KILN_EBUCKETNAME, "The specified bucket is not valid.", q);
        return;
    }
    if (s3xml_parse_location(buf_cstr(&r->body), r->body.len, loc, sizeof(loc),
                             &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    str_copy(b.name, q->bucket, sizeof(b.name));
    str_copy(b.account, q->account, sizeof(b.account));
    str_copy(b.region, loc[0] ? loc : s->region, sizeof(b.region));
    b.created = tm_now();
    if (meta_bucket_create(s->meta, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    respond_empty(r, 200);
    buf_addf(&where, "/%s", q->bucket);
    http_response_header(r, "Location", buf_cstr(&where));
    buf_release(&where);
}

static void abort_bucket_uploads(const struct s3_ctx *s, const char *bucket);

static int any_object(void *ctx, const struct meta_object *o)
{
    (void)o;
    *(bool *)ctx = true;
    return 1;
}

static void bucket_op(const struct s3_ctx *s, struct http_request *r,
                      struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct buf x = BUF_INIT(4096);
    int rc = own_bucket(q, &b, &d);

    if (rc) {
        fail_diag(r, &d, q);
        return;
    }
    if (q->op == OP_HEAD_BUCKET) {
        respond_empty(r, 200);
        http_response_header(r, "x-amz-bucket-region", b.region);
    } else if (q->op == OP_GET_VERSIONING) {
        /* No Status: versioning has never been enabled. */
        buf_adds(&x,
                 XML_HEAD "<VersioningConfiguration xmlns=\"" XML_NS "\"/>");
        respond_xml(r, 200, &x);
    } else if (q->op == OP_BUCKET_LOCATION) {
        buf_adds(&x, XML_HEAD "<LocationConstraint xmlns=\"" XML_NS "\">");
        if (strcmp(b.region, "us-east-1") != 0)
            xml_escaped(&x, b.region);
        buf_adds(&x, "</LocationConstraint>");
        respond_xml(r, 200, &x);
    } else {
        /* Objects keep a bucket; multipart uploads in progress do not, in
         * S3: they are aborted with it. */
        bool objects = false;
        meta_object_scan(s->meta, q->bucket, NULL, NULL, any_object, &objects);
        if (!objects)
            abort_bucket_uploads(s, q->bucket);
        rc = objects ? KILN_ENOTEMPTY : meta_bucket_delete(s->meta, q->bucket);
        if (rc == KILN_ENOTEMPTY)
            fail(r, rc, "The bucket you tried to delete is not empty", q);
        else if (rc)
            fail(r, rc, "The specified bucket does not exist", q);
        else
            respond_empty(r, 204);
    }
    buf_release(&x);
}

/* ---- listings --------------------------------------------------------- */

/*
 * What ListObjects and ListMultipartUploads share: keys under `prefix`,
 * rolled up at `delimiter` into <CommonPrefixes>, at most `max` entries.
 */
struct rollup {
    const char *prefix;
    const char *delimiter;
    const char *skip_prefix; /* a common prefix already returned */
    size_t max;
    bool url;
    size_t count; /* entries so far, prefixes included */
    bool truncated;
    char *last_prefix; /* the current common prefix */
};

/* Continuing after `after` (a marker): if it is a common prefix, every key
 * under it was returned with it. */
static void rollup_start(struct rollup *ro, const char *after)
{
    const char *dl = ro->delimiter;
    if (after && dl && *dl && str_starts(after, ro->prefix) &&
        strlen(after) >= strlen(dl) &&
        strcmp(after + strlen(after) - strlen(dl), dl) == 0)
        ro->skip_prefix = after;
}

/*
 * Reads prefix, delimiter, encoding-type and the page size `max_name`
 * (max-keys, max-uploads: as given in *max, at most 1000 in ro) from the
 * query; answers the request and returns false when one is invalid.
 */
static bool rollup_query(struct http_request *r, const struct s3_req *q,
                         const char *max_name, struct rollup *ro, int64_t *max)
{
    const char *mv = qget(q, max_name), *enc = qget(q, "encoding-type");

    *max = 1000;
    if (mv && parse_i64_str(mv, 0, INT32_MAX, max) != 0) {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 "Provided %s not an integer or within integer range",
                 max_name);
        fail(r, KILN_EINVAL, msg, q);
        return false;
    }
    if (enc && strcmp(enc, "url") != 0) {
        fail(r, KILN_EINVAL, "Invalid Encoding Method specified in Request", q);
        return false;
    }
    ro->prefix = qget(q, "prefix") ? qget(q, "prefix") : "";
    ro->delimiter = qget(q, "delimiter");
    ro->max = *max > 1000 ? 1000 : (size_t)*max;
    ro->url = enc != NULL;
    return true;
}

enum { ROLL_ITEM, ROLL_SKIP, ROLL_PREFIX, ROLL_FULL };

/*
 * Places `key`: ROLL_ITEM (list it; counted), ROLL_PREFIX (rolled up into
 * a new common prefix, added to `prefixes` and now in last_prefix),
 * ROLL_SKIP (under a common prefix already returned) or ROLL_FULL (the
 * page is full: truncated).
 */
static int rollup_key(struct rollup *ro, const char *key, struct buf *prefixes)
{
    const char *dl = ro->delimiter;
    const char *hit = dl && *dl ? strstr(key + strlen(ro->prefix), dl) : NULL;
    size_t n = hit ? (size_t)(hit - key) + strlen(dl) : 0;

    if (ro->skip_prefix && str_starts(key, ro->skip_prefix))
        return ROLL_SKIP;
    if (hit && ro->last_prefix && strlen(ro->last_prefix) == n &&
        memcmp(ro->last_prefix, key, n) == 0)
        return ROLL_SKIP;
    if (ro->count == ro->max) {
        ro->truncated = true;
        return ROLL_FULL;
    }
    ro->count++;
    if (!hit)
        return ROLL_ITEM;
    mem_free(ro->last_prefix);
    ro->last_prefix = xstrndup(key, n);
    buf_adds(prefixes, "<CommonPrefixes>");
    xml_elem(prefixes, "Prefix", ro->last_prefix, ro->url);
    buf_adds(prefixes, "</CommonPrefixes>");
    return ROLL_PREFIX;
}

struct listing {
    struct rollup ro;
    bool v2;
    bool versions; /* ListObjectVersions */
    bool fetch_owner;
    const char *account;
    struct buf contents; /* <Contents> and <CommonPrefixes> */
    char *last;          /* last entry returned (key or prefix) */
};

static int list_entry(void *ctx, const struct meta_object *o)
{
    struct listing *l = ctx;

    switch (rollup_key(&l->ro, o->key, &l->contents)) {
    case ROLL_SKIP:
        return 0;
    case ROLL_FULL:
        return 1;
    case ROLL_PREFIX:
        mem_free(l->last);
        l->last = xstrdup(l->ro.last_prefix);
        return 0;
    }
    char t[TM_ISO_LEN];
    tm_format_iso(o->modified, t);
    buf_adds(&l->contents, l->versions ? "<Version>" : "<Contents>");
    xml_elem(&l->contents, "Key", o->key, l->ro.url);
    if (l->versions)
        buf_adds(&l->contents,
                 "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
    buf_addf(&l->contents, "<LastModified>%s</LastModified>", t);
    xml_elem(&l->contents, "ETag", o->etag, false);
    buf_addf(&l->contents, "<Size>%llu</Size>", (unsigned long long)o->size);
    /* The class the object was stored with (x-amz-storage-class). */
    const char *sc = "STANDARD";
    json_t *h = o->headers && strstr(o->headers, "x-amz-storage-class")
                    ? json_loads(o->headers, 0, NULL)
                    : NULL;
    if (json_string_value(json_object_get(h, "x-amz-storage-class")))
        sc = json_string_value(json_object_get(h, "x-amz-storage-class"));
    xml_elem(&l->contents, "StorageClass", sc, false);
    json_decref(h);
    if (!l->v2 || l->fetch_owner)
        owner_xml(&l->contents, l->account);
    buf_adds(&l->contents, l->versions ? "</Version>" : "</Contents>");
    mem_free(l->last);
    l->last = xstrdup(o->key);
    return 0;
}

static char *token_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    b64_encode((const uint8_t *)s, n, out);
    return out;
}

static char *token_decode(const char *t)
{
    size_t n = strlen(t);
    uint8_t *raw;
    int len;

    if (n == 0 || n % 4 || n > 8192)
        return NULL;
    raw = xmalloc(n);
    len = EVP_DecodeBlock(raw, (const unsigned char *)t, (int)n);
    if (len < 0) {
        mem_free(raw);
        return NULL;
    }
    if (t[n - 1] == '=')
        len--;
    if (n > 1 && t[n - 2] == '=')
        len--;
    char *s = xstrndup((const char *)raw, (size_t)len);
    mem_free(raw);
    return s;
}

static void list_objects(const struct s3_ctx *s, struct http_request *r,
                         struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct listing l = {0};
    struct buf x = BUF_INIT(256u << 20);
    char *after = NULL;
    int64_t max;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (!rollup_query(r, q, "max-keys", &l.ro, &max))
        return;
    l.v2 = q->op == OP_LIST_V2;
    l.versions = q->op == OP_LIST_VERSIONS;
    l.fetch_owner =
        qget(q, "fetch-owner") && strcmp(qget(q, "fetch-owner"), "true") == 0;
    l.account = b.account;
    buf_init(&l.contents, 256u << 20);

    if (l.v2) {
        const char *ct = qget(q, "continuation-token");
        if (ct) {
            after = token_decode(ct);
            if (!after) {
                fail(r, KILN_EINVAL,
                     "The continuation token provided is incorrect", q);
                goto out;
            }
        } else if (qget(q, "start-after")) {
            after = xstrdup(qget(q, "start-after"));
        }
    } else if (qget(q, l.versions ? "key-marker" : "marker")) {
        after = xstrdup(qget(q, l.versions ? "key-marker" : "marker"));
    }
    rollup_start(&l.ro, after);
    if (l.ro.max > 0)
        meta_object_scan(s->meta, q->bucket, after, l.ro.prefix, list_entry,
                         &l);

    const char *root = l.versions ? "ListVersionsResult" : "ListBucketResult";
    buf_addf(&x, XML_HEAD "<%s xmlns=\"" XML_NS "\">", root);
    xml_elem(&x, "Name", q->bucket, false);
    xml_elem(&x, "Prefix", l.ro.prefix, l.ro.url);
    if (l.versions) {
        const char *km = qget(q, "key-marker");
        xml_elem(&x, "KeyMarker", km ? km : "", l.ro.url);
        xml_elem(&x, "VersionIdMarker",
                 qget(q, "version-id-marker") ? qget(q, "version-id-marker")
                                              : "",
                 false);
        if (l.ro.truncated && l.last) {
            xml_elem(&x, "NextKeyMarker", l.last, l.ro.url);
            buf_adds(&x, "<NextVersionIdMarker>null</NextVersionIdMarker>");
        }
    } else if (l.v2) {
        buf_addf(&x, "<KeyCount>%zu</KeyCount>", l.ro.count);
        if (qget(q, "continuation-token"))
            xml_elem(&x, "ContinuationToken", qget(q, "continuation-token"),
                     false);
        if (qget(q, "start-after"))
            xml_elem(&x, "StartAfter", qget(q, "start-after"), l.ro.url);
        if (l.ro.truncated && l.last) {
            char *t = token_encode(l.last);
            xml_elem(&x, "NextContinuationToken", t, false);
            mem_free(t);
        }
    } else {
        xml_elem(&x, "Marker", qget(q, "marker") ? qget(q, "marker") : "",
                 l.ro.url);
        if (l.ro.truncated && l.last)
            xml_elem(&x, "NextMarker", l.last, l.ro.url);
    }
    buf_addf(&x, "<MaxKeys>%lld</MaxKeys>", (long long)max);
    if (l.ro.delimiter)
        xml_elem(&x, "Delimiter", l.ro.delimiter, l.ro.url);
    if (l.ro.url)
        buf_adds(&x, "<EncodingType>url</EncodingType>");
    buf_addf(&x, "<IsTruncated>%s</IsTruncated>",
             l.ro.truncated ? "true" : "false");
    buf_add(&x, l.contents.data ? l.contents.data : "", l.contents.len);
    buf_addf(&x, "</%s>", root);
    respond_xml(r, 200, &x);
out:
    buf_release(&x);
    buf_release(&l.contents);
    mem_free(l.last);
    mem_free(l.ro.last_prefix);
    mem_free(after);
}

/* ---- delete ----------------------------------------------------------- */

static void delete_object(const struct s3_ctx *s, struct http_request *r,
                          struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (objstore_delete_object(s->store, q->bucket, q->key) != 0) {
        fail(r, KILN_EIO, "We encountered an internal error.", q);
        return;
    }
    respond_empty(r, 204);
}

static void delete_objects(const struct s3_ctx *s, struct http_request *r,
                           struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct s3xml_delete del = {0};
    struct buf x = BUF_INIT(64u << 20);

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (s3xml_parse_delete(buf_cstr(&r->body), r->body.len, &del, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    buf_adds(&x, XML_HEAD "<DeleteResult xmlns=\"" XML_NS "\">");
    for (size_t i = 0; i < del.nkeys; i++) {
        int rc = strlen(del.keys[i]) > MAX_KEY_BYTES
                     ? KILN_EKEYTOOLONG
                     : objstore_delete_object(s->store, q->bucket, del.keys[i]);
        if (rc == 0) {
            if (!del.quiet) {
                buf_adds(&x, "<Deleted>");
                xml_elem(&x, "Key", del.keys[i], false);
                buf_adds(&x, "</Deleted>");
            }
        } else {
            buf_adds(&x, "<Error>");
            xml_elem(&x, "Key", del.keys[i], false);
            buf_addf(&x, "<Code>%s</Code><Message>%s</Message></Error>",
                     kiln_err_name(rc, KILN_PROTO_S3), kiln_strerror(rc));
        }
    }
    buf_adds(&x, "</DeleteResult>");
    respond_xml(r, 200, &x);
    buf_release(&x);
    s3xml_delete_free(&del);
}

/* ---- tagging ---------------------------------------------------------- */

static void get_tagging(const struct s3_ctx *s, struct http_request *r,
                        struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct object_copy c = {0};
    struct buf x = BUF_INIT(64 * 1024);
    const char *k;
    json_t *v;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (meta_object_get(s->meta, q->bucket, q->key, copy_object_row, &c)) {
        fail(r, KILN_ENOTFOUND, "The specified key does not exist.", q);
        return;
    }
    json_t *h = json_loads(c.headers ? c.headers : "{}", 0, NULL);
    buf_adds(&x, XML_HEAD "<Tagging xmlns=\"" XML_NS "\"><TagSet>");
    json_object_foreach(json_object_get(h, "tagging"), k, v)
    {
        buf_adds(&x, "<Tag>");
        xml_elem(&x, "Key", k, false);
        xml_elem(&x, "Value", json_string_value(v), false);
        buf_adds(&x, "</Tag>");
    }
    buf_adds(&x, "</TagSet></Tagging>");
    respond_xml(r, 200, &x);
    json_decref(h);
    buf_release(&x);
    object_copy_release(&c);
}

/* PutObjectTagging (a <Tagging> body) and DeleteObjectTagging (none):
 * the object keeps its data and metadata and gets the new tag set. */
static void set_tagging(const struct s3_ctx *s, struct http_request *r,
                        struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct s3xml_tagging t = {0};
    json_t *set = json_object();
    int rc = own_bucket(q, &b, &d);

    if (!rc && q->op == OP_PUT_TAGGING) {
        rc = s3xml_parse_tagging(buf_cstr(&r->body), r->body.len, &t, &d);
        for (size_t i = 0; !rc && i < t.ntags; i++)
            rc = tag_add(set, t.tags[i].key, t.tags[i].value, &d);
        if (!rc)
            rc = tags_counted(set, &d);
    }
    /* A PUT that replaces the object meanwhile wins: the update applies
     * to the data it was read with, or is tried again on the new one. */
    for (int attempt = 0; !rc; attempt++) {
        struct object_copy c = {0};
        if (meta_object_get(s->meta, q->bucket, q->key, copy_object_row, &c)) {
            rc = diag_set(&d, KILN_ENOTFOUND,
                          "The specified key does not exist.");
            break;
        }
        char *headers = headers_with_tags(c.headers, set);
        rc = meta_object_set_headers(s->meta, q->bucket, q->key, c.blob,
                                     headers);
        mem_free(headers);
        object_copy_release(&c);
        if (rc != KILN_ENOTFOUND || attempt == 2)
            break;
        rc = 0;
    }
    if (rc)
        fail_diag(r, &d, q);
    else
        respond_empty(r, q->op == OP_PUT_TAGGING ? 200 : 204);
    s3xml_tagging_free(&t);
    json_decref(set);
}

/* ---- copies ----------------------------------------------------------- */

/* Parses x-amz-copy-source into bucket and key (owned by the caller). */
static int copy_source(struct http_request *r, char **bucket, char **key,
                       struct kiln_diag *d)
{
    const char *h = http_request_header(r, "x-amz-copy-source");
    struct buf dec = BUF_INIT(64 * 1024);
    const char *p, *slash, *qm;
    size_t n;

    qm = strchr(h, '?');
    n = qm ? (size_t)(qm - h) : strlen(h);
    str_url_decode(h, n, false, &dec);
    p = buf_cstr(&dec);
    if (*p == '/')
        p++;
    slash = strchr(p, '/');
    if (!slash || slash == p || !slash[1]) {
        buf_release(&dec);
        return diag_set(d, KILN_EINVAL,
                        "Copy Source must mention the source bucket and key: "
                        "sourcebucket/sourcekey");
    }
    *bucket = xstrndup(p, (size_t)(slash - p));
    *key = xstrdup(slash + 1);
    buf_release(&dec);
    return 0;
}

/* Opens the copy source after checking the caller may read it. */
static int open_source(const struct s3_ctx *s, struct http_request *r,
                       struct s3_req *q, struct object_copy *c, int *fd,
                       char **sb, char **sk, struct kiln_diag *d)
{
    struct meta_bucket b;
    int rc = copy_source(r, sb, sk, d);
    if (rc)
        return rc;
    if (meta_bucket_get(s->meta, *sb, &b) != 0)
        return diag_set(d, KILN_ENOBUCKET,
                        "The specified bucket does not exist");
    const char *owner =
        http_request_header(r, "x-amz-source-expected-bucket-owner");
    if (strcmp(b.account, q->account) != 0 ||
        (owner && strcmp(b.account, owner) != 0))
        return diag_set(d, KILN_EACCESS, "Access Denied");
    if (open_object(s, *sb, *sk, c, fd) != 0)
        return diag_set(d, KILN_ENOTFOUND, "The specified key does not exist.");
    return 0;
}

static void copy_object(const struct s3_ctx *s, struct http_request *r,
                        struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct object_copy c = {0};
    char *sb = NULL, *sk = NULL, *headers = NULL;
    char blob[META_BLOB_ID], old[META_BLOB_ID] = "", t[TM_ISO_LEN];
    const char *dir = http_request_header(r, "x-amz-metadata-directive");
    bool replace = dir && strcasecmp(dir, "REPLACE") == 0;
    const char *tdir = http_request_header(r, "x-amz-tagging-directive");
    bool retag = tdir && strcasecmp(tdir, "REPLACE") == 0;
    struct buf x = BUF_INIT(4096);
    json_t *source = NULL;
    int fd = -1, rc;

    rc = own_bucket(q, &b, &d);
    if (!rc && tdir && !retag && strcasecmp(tdir, "COPY") != 0)
        rc = diag_set(&d, KILN_EINVAL, "Unknown tagging directive.");
    /* An overwrite or delete of the source may remove its blob between
     * the lookup and the link: then the source is looked up again. */
    for (int tries = 0; !rc; tries++) {
        rc = open_source(s, r, q, &c, &fd, &sb, &sk, &d);
        if (!rc && strcmp(sb, q->bucket) == 0 && strcmp(sk, q->key) == 0 &&
            !replace)
            rc = diag_set(&d, KILN_EBADREQUEST,
                          "This copy request is illegal because it is trying "
                          "to copy an object to itself without changing the "
                          "object's metadata, storage class, website "
                          "redirect location or encryption attributes.");
        if (!rc) {
            const char *im =
                http_request_header(r, "x-amz-copy-source-if-match");
            const char *inm =
                http_request_header(r, "x-amz-copy-source-if-none-match");
            if ((im && !etag_matches(im, c.etag)) ||
                (inm && etag_matches(inm, c.etag)))
                rc = diag_set(&d, KILN_EPRECONDITION,
                              "At least one of the pre-conditions you "
                              "specified did not hold");
        }
        if (!rc)
            rc = objstore_blob_link(s->store, c.blob, blob, &d);
        if (rc != KILN_CONTINUE)
            break;
        rc = tries < 3 ? 0
                       : diag_set(&d, KILN_EUNAVAILABLE,
                                  "The copy source keeps changing; retry.");
        if (fd >= 0)
            close(fd);
        fd = -1;
        object_copy_release(&c);
        mem_free(sb);
        mem_free(sk);
        sb = sk = NULL;
    }
    if (rc)
        goto out;
    /* Metadata and tags each come from the request or the source, as
     * their directives say. */
    source = json_loads(c.headers ? c.headers : "{}", 0, NULL);
    char *own = replace ? headers_json(r, q) : NULL;
    headers =
        headers_with_tags(replace ? own : c.headers,
                          retag ? q->tags : json_object_get(source, "tagging"));
    mem_free(own);
    const char *ct = http_request_header(r, "Content-Type");
    struct meta_object o = {
        .bucket = q->bucket,
        .key = q->key,
        .blob = blob,
        .size = c.size,
        .etag = c.etag,
        .modified = tm_now(),
        .content_type = replace && ct ? ct : c.content_type,
        .headers = headers,
        .checksums = c.checksums,
        .parts = c.parts,
        .part_sizes = c.part_sizes,
    };
    rc = meta_object_put(s->meta, &o, old, &d);
    if (rc) {
        objstore_blob_unlink(s->store, blob);
        goto out;
    }
    objstore_blob_unlink(s->store, old);
    tm_format_iso(o.modified, t);
    buf_adds(&x, XML_HEAD "<CopyObjectResult xmlns=\"" XML_NS "\">");
    buf_addf(&x, "<LastModified>%s</LastModified>", t);
    xml_elem(&x, "ETag", c.etag, false);
    buf_adds(&x, "</CopyObjectResult>");
    respond_xml(r, 200, &x);
out:
    if (rc)
        fail_diag(r, &d, q);
    if (fd >= 0)
        close(fd);
    object_copy_release(&c);
    mem_free(sb);
    mem_free(sk);
    mem_free(headers);
    json_decref(source);
    buf_release(&x);
}

/* ---- multipart -------------------------------------------------------- */

struct upload_copy {
    char bucket[64];
    char *key;
    char *headers;
    char account[13];
};

static int copy_upload_row(void *ctx, const struct meta_upload *u)
{
    struct upload_copy *c = ctx;
    str_copy(c->bucket, u->bucket, sizeof(c->bucket));
    str_copy(c->account, u->account, sizeof(c->account));
    c->key = xstrdup(u->key);
    c->headers = xstrdup(u->headers);
    return 0;
}

/* The upload named by ?uploadId, checked to be this bucket and key's. */
static int find_upload(const struct s3_ctx *s, struct s3_req *q,
                       struct upload_copy *u, struct kiln_diag *d)
{
    const char *id = qget(q, "uploadId");
    memset(u, 0, sizeof(*u));
    if (!id || meta_upload_get(s->meta, id, copy_upload_row, u) != 0 ||
        strcmp(u->bucket, q->bucket) != 0 || strcmp(u->key, q->key) != 0) {
        mem_free(u->key);
        mem_free(u->headers);
        memset(u, 0, sizeof(*u));
        return diag_set(d, KILN_ENOUPLOAD,
                        "The specified upload does not exist. The upload ID "
                        "may be invalid, or the upload may have been aborted "
                        "or completed.");
    }
    return 0;
}

static void upload_release(struct upload_copy *u)
{
    mem_free(u->key);
    mem_free(u->headers);
}

static void create_upload(const struct s3_ctx *s, struct http_request *r,
                          struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    uint8_t raw[24];
    char id[64];
    struct buf x = BUF_INIT(8192);
    json_t *h;
    char *headers;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    /* The time first, so ids sort in initiation order (ListMultipartUploads
     * pages by id within a key), then 128 random bits. */
    uint64_t us = (uint64_t)(tm_now() * 1e6);
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(us >> (56 - 8 * i));
    KILN_ASSERT(getentropy(raw + 8, sizeof(raw) - 8) == 0);
    str_hex(raw, sizeof(raw), id);
    headers = headers_json(r, q);
    h = json_loads(headers, 0, NULL);
    const char *ct = http_request_header(r, "Content-Type");
    json_object_set_new(h, "content-type",
                        json_string(ct ? ct : "binary/octet-stream"));
    /* Parts checksummed with this algorithm make the object's checksum: a
     * checksum of theirs (COMPOSITE) or, for the CRCs, the checksum of
     * the whole object combined from theirs (FULL_OBJECT). */
    int alg = checksum_alg(http_request_header(r, "x-amz-checksum-algorithm"));
    const char *type = http_request_header(r, "x-amz-checksum-type");
    bool full = type && strcasecmp(type, "FULL_OBJECT") == 0;
    if (alg >= 0)
        json_object_set_new(h, "checksum-algorithm",
                            json_string(checksum_algs[alg].alg));
    if (alg >= 0 && full)
        json_object_set_new(h, "checksum-type", json_string("FULL_OBJECT"));
    mem_free(headers);
    /* An algorithm kiln does not compute (CRC64NVME) is let through,
     * without an object checksum, as a PUT with its header is. */
    if ((type && !full && strcasecmp(type, "COMPOSITE") != 0) ||
        (full && alg >= 0 &&
         !(checksum_algs[alg].digest & (OBJSTORE_CRC32 | OBJSTORE_CRC32C)))) {
        json_decref(h);
        fail(r, KILN_EBADREQUEST,
             "The checksum type is not supported with this checksum "
             "algorithm.",
             q);
        buf_release(&x);
        return;
    }
    headers = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    struct meta_upload u = {.id = id,
                            .bucket = q->bucket,
                            .key = q->key,
                            .account = q->account,
                            .initiated = tm_now(),
                            .headers = headers};
    if (meta_upload_create(s->meta, &u, &d) != 0) {
        fail_diag(r, &d, q);
    } else {
        buf_adds(&x, XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" XML_NS
                              "\">");
        xml_elem(&x, "Bucket", q->bucket, false);
        xml_elem(&x, "Key", q->key, false);
        xml_elem(&x, "UploadId", id, false);
        buf_adds(&x, "</InitiateMultipartUploadResult>");
        respond_xml(r, 200, &x);
        if (alg >= 0) {
            http_response_header(r, "x-amz-checksum-algorithm",
                                 checksum_algs[alg].name);
            http_response_header(r, "x-amz-checksum-type",
                                 full ? "FULL_OBJECT" : "COMPOSITE");
        }
    }
    mem_free(headers);
    buf_release(&x);
}

struct parts {
    struct meta_part *items;
    char **blobs;
    char **etags;
    char **sums;
    size_t n;
};

static int collect_part(void *ctx, const struct meta_part *p)
{
    struct parts *ps = ctx;
    ps->items = xrealloc(ps->items, (ps->n + 1) * sizeof(*ps->items));
    ps->blobs = xrealloc(ps->blobs, (ps->n + 1) * sizeof(*ps->blobs));
    ps->etags = xrealloc(ps->etags, (ps->n + 1) * sizeof(*ps->etags));
    ps->sums = xrealloc(ps->sums, (ps->n + 1) * sizeof(*ps->sums));
    ps->items[ps->n] = *p;
    ps->blobs[ps->n] = xstrdup(p->blob);
    ps->etags[ps->n] = xstrdup(p->etag);
    ps->sums[ps->n] = xstrdup(p->checksum ? p->checksum : "");
    ps->items[ps->n].blob = ps->blobs[ps->n];
    ps->items[ps->n].etag = ps->etags[ps->n];
    ps->items[ps->n].checksum = ps->sums[ps->n];
    ps->n++;
    return 0;
}

static void parts_release(struct parts *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        mem_free(ps->blobs[i]);
        mem_free(ps->etags[i]);
        mem_free(ps->sums[i]);
    }
    mem_free(ps->items);
    mem_free(ps->blobs);
    mem_free(ps->etags);
    mem_free(ps->sums);
    memset(ps, 0, sizeof(*ps));
}

/* Part n, or NULL; the parts are in number order. */
static const struct meta_part *part_find(const struct parts *ps, int n)
{
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->items[mid].number < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ps->n && ps->items[lo].number == n ? &ps->items[lo] : NULL;
}

/*
 * The blob that the chosen parts already form in place, or NULL: they are
 * parts 1..n, all in one blob, each at (i-1) x the first's size, all but
 * the last of that size, and no other part row is in that blob (so what
 * lies past the last part is no part's, and sealing may cut it off).
 */
static const char *assembled(const struct parts *ps,
                             const struct s3xml_complete *cx)
{
    const struct meta_part *first = part_find(ps, 1);
    uint64_t stride = first ? first->size : 0;

    if (!first || !cx->nparts)
        return NULL;
    for (size_t i = 0; i < cx->nparts; i++) {
        const struct meta_part *p = part_find(ps, cx->parts[i].number);
        if (cx->parts[i].number != (int)i + 1 || !p ||
            strcmp(p->blob, first->blob) != 0 || p->offset != i * stride ||
            p->size > stride || (i + 1 < cx->nparts && p->size != stride))
            return NULL;
    }
    for (size_t i = 0; i < ps->n; i++)
        if (ps->items[i].number > (int)cx->nparts &&
            strcmp(ps->items[i].blob, first->blob) == 0)
            return NULL;
    return first->blob;
}

/*
 * The object checksum S3 gives a multipart upload from its chosen parts'
 * checksums. COMPOSITE: `alg` over the decoded part checksums one after
 * the other, in base64, then "-<parts>". FULL_OBJECT (`full`, CRCs only):
 * the CRC of the whole object, combined from the parts' CRCs and sizes.
 * "" when a part has none (it was stored before kiln kept them).
 */
static void object_checksum(int alg, bool full, const struct parts *ps,
                            const struct s3xml_complete *cx, char out[80])
{
    unsigned dg = checksum_algs[alg].digest;
    EVP_MD_CTX *md = NULL;
    uint32_t crc = 0;
    uint8_t digest[32] = {0};
    unsigned int len;
    char b64[64];

    out[0] = '\0';
    if (dg & (OBJSTORE_SHA1 | OBJSTORE_SHA256)) {
        md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, dg & OBJSTORE_SHA1 ? EVP_sha1() : EVP_sha256(),
                          NULL);
    }
    for (size_t i = 0; i < cx->nparts; i++) {
        const struct meta_part *p = part_find(ps, cx->parts[i].number);
        uint8_t raw[32];
        int n = b64_decode(p->checksum, raw, sizeof(raw));
        if (n <= 0) {
            EVP_MD_CTX_free(md);
            return;
        }
        if (full) {
            uint32_t part = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
                            (uint32_t)raw[2] << 8 | raw[3];
            crc = dg & OBJSTORE_CRC32
                      ? (uint32_t)crc32_combine(crc, part, (z_off_t)p->size)
                      : crc32c_combine(crc, part, p->size);
        } else if (dg & OBJSTORE_CRC32)
            crc = (uint32_t)crc32(crc, raw, (uInt)n);
        else if (dg & OBJSTORE_CRC32C)
            crc = crc32c_update(crc, raw, (size_t)n);
        else
            EVP_DigestUpdate(md, raw, (size_t)n);
    }
    if (md) {
        EVP_DigestFinal_ex(md, digest, &len);
        EVP_MD_CTX_free(md);
    }
    checksum_b64(alg, crc, digest, b64);
    if (full)
        snprintf(out, 80, "%s", b64);
    else
        snprintf(out, 80, "%s-%zu", b64, cx->nparts);
}

/* Ends upload `id` whose parts were ps: unlinks their blobs, but `kept`
 * (now the object's), and its assembly if no part was in it. Parts may
 * share a blob; unlinking one twice is harmless. */
static void parts_end(const struct s3_ctx *s, const char *id,
                      const struct parts *ps, const char *kept)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!kept || strcmp(ps->items[i].blob, kept) != 0)
            objstore_blob_unlink(s->store, ps->items[i].blob);
    objstore_upload_end(s->store, id, kept);
}

struct upload_ids {
    char **ids;
    size_t n;
};

static int collect_upload_id(void *ctx, const struct meta_upload *u)
{
    struct upload_ids *l = ctx;
    l->ids = xrealloc(l->ids, (l->n + 1) * sizeof(*l->ids));
    l->ids[l->n++] = xstrdup(u->id);
    return 0;
}

/* Aborts every upload in progress in `bucket`, as DeleteBucket does. */
static void abort_bucket_uploads(const struct s3_ctx *s, const char *bucket)
{
    struct upload_ids l = {0};

    meta_upload_each(s->meta, bucket, collect_upload_id, &l);
    for (size_t i = 0; i < l.n; i++) {
        struct parts ps = {0};
        if (meta_part_each(s->meta, l.ids[i], collect_part, &ps) == 0 &&
            meta_upload_abort(s->meta, l.ids[i]) == 0)
            parts_end(s, l.ids[i], &ps, NULL);
        parts_release(&ps);
        mem_free(l.ids[i]);
    }
    mem_free(l.ids);
}

static void complete_upload(const struct s3_ctx *s, struct http_request *r,
                            struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct upload_copy u = {0};
    struct s3xml_complete cx = {0};
    struct parts ps = {0};
    struct objstore_writer w;
    bool wopen = false, closed = false, idle = false;
    EVP_MD_CTX *md = NULL;
    const char *id = qget(q, "uploadId"), *inplace = NULL;
    char etag[80], old[META_BLOB_ID] = "", blob[META_BLOB_ID];
    char object_sum[80] = "";
    int alg = -1;
    bool full = false;
    uint64_t size = 0;
    struct buf x = BUF_INIT(16384);
    json_t *h = NULL;
    int rc;

    rc = own_bucket(q, &b, &d);
    if (!rc)
        rc = find_upload(s, q, &u, &d);
    if (!rc) {
        alg = upload_alg(u.headers, &full);
        rc = s3xml_parse_complete(buf_cstr(&r->body), r->body.len, &cx, &d);
    }
    if (!rc) {
        /* No part lands in place from here on. */
        idle = objstore_upload_close(s->store, id);
        closed = true;
        rc = meta_part_each(s->meta, id, collect_part, &ps);
    }
    for (size_t i = 1; !rc && i < cx.nparts; i++)
        if (cx.parts[i].number <= cx.parts[i - 1].number)
            rc = diag_set(&d, KILN_EPARTORDER,
                          "The list of parts was not in ascending order. "
                          "Parts must be ordered by part number.");
    for (size_t i = 0; !rc && i < cx.nparts; i++) {
        const struct meta_part *p = part_find(&ps, cx.parts[i].number);
        if (!p || strlen(p->etag) < 2 ||
            strncmp(p->etag + 1, cx.parts[i].etag, strlen(p->etag) - 2) != 0 ||
            strlen(cx.parts[i].etag) != strlen(p->etag) - 2) {
            rc = diag_set(&d, KILN_EBADPART,
                          "One or more of the specified parts could not be "
                          "found. The part may not have been uploaded, or "
                          "the specified entity tag may not match the "
                          "part's entity tag.");
        } else if (alg >= 0 && cx.parts[i].checksum_alg[0] &&
                   (strcmp(cx.parts[i].checksum_alg, checksum_algs[alg].alg) !=
                        0 ||
                    strcmp(cx.parts[i].checksum, p->checksum) != 0)) {
            rc = diag_set(&d, KILN_EBADPART,
                          "The %s you specified for part %d does not match "
                          "the part's checksum.",
                          checksum_algs[alg].xml, cx.parts[i].number);
        } else if (i + 1 < cx.nparts && p->size < MIN_PART) {
            rc = diag_set(&d, KILN_ETOOSMALL,
                          "Your proposed upload is smaller than the minimum "
                          "allowed size");
        }
    }
    if (rc == KILN_EBADPART) {
        /* No parts because an abort took them meanwhile: say so. */
        struct upload_copy now;
        if (find_upload(s, q, &now, &d) == 0)
            upload_release(&now);
        else
            rc = KILN_ENOUPLOAD;
    }
    if (rc)
        goto out;
    md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_md5(), NULL);
    for (size_t i = 0; i < cx.nparts; i++) {
        const struct meta_part *p = part_find(&ps, cx.parts[i].number);
        uint8_t raw[16];
        hex_decode16(p->etag + 1, raw); /* our own ETag: '"' + 32 hex */
        EVP_DigestUpdate(md, raw, 16);
        size += p->size;
    }
    if (alg >= 0)
        object_checksum(alg, full, &ps, &cx, object_sum);
    /* A full-object checksum the client sent must be what the parts make. */
    const char *claimed =
        alg >= 0 && full ? http_request_header(r, checksum_algs[alg].header)
                         : NULL;
    if (claimed && strcmp(claimed, object_sum) != 0) {
        rc = diag_set(&d, KILN_EBADDIGEST,
                      "The %s you specified did not match the calculated "
                      "checksum.",
                      checksum_algs[alg].alg);
        goto out;
    }
    inplace = idle ? assembled(&ps, &cx) : NULL;
    if (inplace) {
        /* The parts are the object already: nothing to copy. */
        rc = objstore_blob_seal(s->store, inplace, size, &d);
        str_copy(blob, inplace, sizeof(blob));
    } else {
        rc = objstore_writer_open(s->store, OBJSTORE_NO_MD5, &w, &d);
        wopen = rc == 0;
        for (size_t i = 0; !rc && i < cx.nparts; i++) {
            const struct meta_part *p = part_find(&ps, cx.parts[i].number);
            rc = objstore_writer_append_blob(s->store, &w, p->blob, p->offset,
                                             p->size, &d);
        }
        if (!rc) {
            rc = objstore_writer_commit(s->store, &w, &d);
            wopen = false;
        }
        str_copy(blob, w.id, sizeof(blob));
    }
    if (rc)
        goto out;
    {
        uint8_t sum[16];
        unsigned int n = 16;
        char hex[33];
        EVP_DigestFinal_ex(md, sum, &n);
        str_hex(sum, 16, hex);
        snprintf(etag, sizeof(etag), "\"%s-%zu\"", hex, cx.nparts);
    }
    h = json_loads(u.headers, 0, NULL);
    const char *ct = json_string_value(json_object_get(h, "content-type"));
    char *ctype = xstrdup(ct ? ct : "binary/octet-stream");
    json_object_del(h, "content-type");
    json_object_del(h, "checksum-algorithm");
    json_object_del(h, "checksum-type");
    char *headers = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *sj = json_object();
    if (object_sum[0])
        json_object_set_new(sj, checksum_algs[alg].alg,
                            json_string(object_sum));
    char *sums = json_dumps(sj, JSON_COMPACT);
    json_decref(sj);
    struct buf sizes = BUF_INIT(16 * S3XML_MAX_PARTS);
    for (size_t i = 0; i < cx.nparts; i++)
        buf_addf(&sizes, "%s%d:%llu", i ? "," : "", cx.parts[i].number,
                 (unsigned long long)part_find(&ps, cx.parts[i].number)->size);
    struct meta_object o = {
        .bucket = q->bucket,
        .key = q->key,
        .blob = blob,
        .size = size,
        .etag = etag,
        .modified = tm_now(),
        .content_type = ctype,
        .headers = headers,
        .checksums = sums,
        .parts = (int)cx.nparts,
        .part_sizes = buf_cstr(&sizes),
    };
    rc = meta_upload_complete(s->meta, id, &o, old, &d);
    buf_release(&sizes);
    mem_free(ctype);
    mem_free(headers);
    mem_free(sums);
    if (rc) {
        if (!inplace)
            objstore_blob_unlink(s->store, blob);
        goto out;
    }
    closed = false;
    objstore_blob_unlink(s->store, old);
    parts_end(s, id, &ps, inplace);
    buf_adds(&x,
             XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" XML_NS "\">");
    {
        struct buf loc = BUF_INIT(4096);
        const char *host = http_request_header(r, "Host");
        buf_addf(&loc, "http://%s/%s/%s", host ? host : "localhost", q->bucket,
                 q->key);
        xml_elem(&x, "Location", buf_cstr(&loc), false);
        buf_release(&loc);
    }
    xml_elem(&x, "Bucket", q->bucket, false);
    xml_elem(&x, "Key", q->key, false);
    xml_elem(&x, "ETag", etag, false);
    if (object_sum[0]) {
        xml_elem(&x, checksum_algs[alg].xml, object_sum, false);
        buf_addf(&x, "<ChecksumType>%s</ChecksumType>",
                 full ? "FULL_OBJECT" : "COMPOSITE");
    }
    buf_adds(&x, "</CompleteMultipartUploadResult>");
    respond_xml(r, 200, &x);
out:
    if (wopen)
        objstore_writer_abort(s->store, &w);
    if (closed)
        objstore_upload_reopen(s->store, id);
    if (rc)
        fail_diag(r, &d, q);
    EVP_MD_CTX_free(md);
    json_decref(h);
    s3xml_complete_free(&cx);
    parts_release(&ps);
    upload_release(&u);
    buf_release(&x);
}

static void abort_upload(const struct s3_ctx *s, struct http_request *r,
                         struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct upload_copy u = {0};
    struct parts ps = {0};
    int rc = own_bucket(q, &b, &d);

    if (!rc)
        rc = find_upload(s, q, &u, &d);
    if (!rc)
        rc = meta_part_each(s->meta, qget(q, "uploadId"), collect_part, &ps);
    if (!rc && meta_upload_abort(s->meta, qget(q, "uploadId")) != 0)
        rc = diag_set(&d, KILN_ENOUPLOAD,
                      "The specified upload does not "
                      "exist.");
    if (rc) {
        fail_diag(r, &d, q);
    } else {
        parts_end(s, qget(q, "uploadId"), &ps, NULL);
        respond_empty(r, 204);
    }
    parts_release(&ps);
    upload_release(&u);
}

static void list_parts(const struct s3_ctx *s, struct http_request *r,
                       struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct upload_copy u = {0};
    struct parts ps = {0};
    struct buf x = BUF_INIT(16u << 20);
    int64_t max = 1000, marker = 0;
    size_t shown = 0;
    int last = 0, alg;
    int rc = own_bucket(q, &b, &d);

    if (!rc)
        rc = find_upload(s, q, &u, &d);
    if (!rc && qget(q, "max-parts") &&
        parse_i64_str(qget(q, "max-parts"), 0, 1000, &max) != 0)
        rc = diag_set(&d, KILN_EINVAL, "Invalid max-parts.");
    if (!rc && qget(q, "part-number-marker") &&
        parse_i64_str(qget(q, "part-number-marker"), 0, 10000, &marker) != 0)
        rc = diag_set(&d, KILN_EINVAL, "Invalid part-number-marker.");
    if (!rc)
        rc = meta_part_each(s->meta, qget(q, "uploadId"), collect_part, &ps);
    if (rc) {
        fail_diag(r, &d, q);
        goto out;
    }
    alg = upload_alg(u.headers, NULL);
    buf_adds(&x, XML_HEAD "<ListPartsResult xmlns=\"" XML_NS "\">");
    xml_elem(&x, "Bucket", q->bucket, false);
    xml_elem(&x, "Key", q->key, false);
    xml_elem(&x, "UploadId", qget(q, "uploadId"), false);
    buf_addf(&x, "<PartNumberMarker>%lld</PartNumberMarker>",
             (long long)marker);
    struct buf items = BUF_INIT(16u << 20);
    bool truncated = false;
    for (size_t i = 0; i < ps.n; i++) {
        const struct meta_part *p = &ps.items[i];
        char t[TM_ISO_LEN];
        if (p->number <= marker)
            continue;
        if ((int64_t)shown == max) {
            truncated = true;
            break;
        }
        tm_format_iso(p->modified, t);
        buf_addf(&items,
                 "<Part><PartNumber>%d</PartNumber><LastModified>%s"
                 "</LastModified>",
                 p->number, t);
        xml_elem(&items, "ETag", p->etag, false);
        if (alg >= 0 && p->checksum[0])
            xml_elem(&items, checksum_algs[alg].xml, p->checksum, false);
        buf_addf(&items, "<Size>%llu</Size></Part>",
                 (unsigned long long)p->size);
        last = p->number;
        shown++;
    }
    buf_addf(&x,
             "<NextPartNumberMarker>%d</NextPartNumberMarker><MaxParts>%lld"
             "</MaxParts><IsTruncated>%s</IsTruncated>",
             last, (long long)max, truncated ? "true" : "false");
    buf_add(&x, items.data ? items.data : "", items.len);
    buf_release(&items);
    buf_adds(&x, "<Initiator>");
    buf_addf(&x, "<ID>%s</ID><DisplayName>%s</DisplayName></Initiator>",
             u.account, u.account);
    owner_xml(&x, u.account);
    buf_adds(&x, "<StorageClass>STANDARD</StorageClass></ListPartsResult>");
    respond_xml(r, 200, &x);
out:
    parts_release(&ps);
    upload_release(&u);
    buf_release(&x);
}

/* ListMultipartUploads: uploads in key order, and for one key in upload
 * id order (ids begin with the time, so that is initiation order). */
struct upload_listing {
    struct rollup ro;
    const char *key_marker;   /* NULL: from the start */
    const char *id_marker;    /* NULL: after every upload of key_marker */
    struct buf uploads;       /* <Upload> */
    struct buf prefixes;      /* <CommonPrefixes> */
    char *last_key, *last_id; /* what NextKeyMarker/NextUploadIdMarker say */
};

static void upload_listing_last(struct upload_listing *l, const char *key,
                                const char *id)
{
    mem_free(l->last_key);
    mem_free(l->last_id);
    l->last_key = xstrdup(key);
    l->last_id = xstrdup(id);
}

static int upload_entry(void *ctx, const struct meta_upload *u)
{
    struct upload_listing *l = ctx;
    char t[TM_ISO_LEN];

    if (!str_starts(u->key, l->ro.prefix))
        return 0;
    if (l->key_marker) {
        int c = strcmp(u->key, l->key_marker);
        if (c < 0 ||
            (c == 0 && (!l->id_marker || strcmp(u->id, l->id_marker) <= 0)))
            return 0;
    }
    switch (rollup_key(&l->ro, u->key, &l->prefixes)) {
    case ROLL_SKIP:
        return 0;
    case ROLL_FULL:
        return 1;
    case ROLL_PREFIX:
        upload_listing_last(l, l->ro.last_prefix, "");
        return 0;
    }
    tm_format_iso(u->initiated, t);
    buf_adds(&l->uploads, "<Upload>");
    xml_elem(&l->uploads, "Key", u->key, l->ro.url);
    xml_elem(&l->uploads, "UploadId", u->id, false);
    buf_addf(&l->uploads,
             "<Initiator><ID>%s</ID><DisplayName>%s</DisplayName>"
             "</Initiator>",
             u->account, u->account);
    owner_xml(&l->uploads, u->account);
    buf_addf(&l->uploads,
             "<StorageClass>STANDARD</StorageClass><Initiated>%s"
             "</Initiated></Upload>",
             t);
    upload_listing_last(l, u->key, u->id);
    return 0;
}

static void list_uploads(const struct s3_ctx *s, struct http_request *r,
                         struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct upload_listing l = {0};
    const char *km = qget(q, "key-marker"), *um = qget(q, "upload-id-marker");
    struct buf x = BUF_INIT(64u << 20);
    int64_t max;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (!rollup_query(r, q, "max-uploads", &l.ro, &max))
        return;
    l.key_marker = km && *km ? km : NULL;
    l.id_marker = l.key_marker && um && *um ? um : NULL;
    if (!l.id_marker)
        rollup_start(&l.ro, l.key_marker);
    buf_init(&l.uploads, 64u << 20);
    buf_init(&l.prefixes, 64u << 20);
    if (l.ro.max > 0)
        meta_upload_each(s->meta, q->bucket, upload_entry, &l);

    buf_adds(&x, XML_HEAD "<ListMultipartUploadsResult xmlns=\"" XML_NS "\">");
    xml_elem(&x, "Bucket", q->bucket, false);
    xml_elem(&x, "KeyMarker", km ? km : "", l.ro.url);
    xml_elem(&x, "UploadIdMarker", um ? um : "", false);
    if (l.ro.truncated) {
        xml_elem(&x, "NextKeyMarker", l.last_key, l.ro.url);
        xml_elem(&x, "NextUploadIdMarker", l.last_id, false);
    }
    xml_elem(&x, "Prefix", l.ro.prefix, l.ro.url);
    if (l.ro.delimiter)
        xml_elem(&x, "Delimiter", l.ro.delimiter, l.ro.url);
    buf_addf(&x, "<MaxUploads>%lld</MaxUploads><IsTruncated>%s</IsTruncated>",
             (long long)max, l.ro.truncated ? "true" : "false");
    if (l.ro.url)
        buf_adds(&x, "<EncodingType>url</EncodingType>");
    buf_add(&x, l.uploads.data ? l.uploads.data : "", l.uploads.len);
    buf_add(&x, l.prefixes.data ? l.prefixes.data : "", l.prefixes.len);
    buf_adds(&x, "</ListMultipartUploadsResult>");
    respond_xml(r, 200, &x);
    buf_release(&x);
    buf_release(&l.uploads);
    buf_release(&l.prefixes);
    mem_free(l.last_key);
    mem_free(l.last_id);
    mem_free(l.ro.last_prefix);
}

/* x-amz-copy-source-range: exactly "bytes=first-last", inside the
 * source; unlike a GET's Range, nothing is clamped. */
static int copy_range(const char *h, uint64_t size, uint64_t *off,
                      uint64_t *len, struct kiln_diag *d)
{
    const char *p = h + 6, *end = h + strlen(h);
    uint64_t a, b;

    if (!str_starts(h, "bytes=") || parse_u64(&p, end, UINT64_MAX, &a) != 0 ||
        *p++ != '-' || parse_u64(&p, end, UINT64_MAX, &b) != 0 || *p || b < a)
        return diag_set(d, KILN_EINVAL,
                        "The x-amz-copy-source-range value must be of the "
                        "form bytes=first-last where first and last are the "
                        "zero-based offsets of the first and last bytes to "
                        "copy");
    if (b >= size)
        return diag_set(d, KILN_EINVAL,
                        "Range specified is not valid for source object of "
                        "size: %llu",
                        (unsigned long long)size);
    *off = a;
    *len = b - a + 1;
    return 0;
}

static void upload_part_copy(const struct s3_ctx *s, struct http_request *r,
                             struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct upload_copy u = {0};
    struct object_copy c = {0};
    struct objstore_writer w;
    bool wopen = false;
    char *sb = NULL, *sk = NULL, etag[40], old[META_BLOB_ID] = "",
         t[TM_ISO_LEN], sum[64] = "";
    uint64_t off = 0, len = 0;
    struct buf x = BUF_INIT(4096);
    int fd = -1, rc, alg = -1;

    rc = own_bucket(q, &b, &d);
    if (!rc)
        rc = find_upload(s, q, &u, &d);
    if (!rc)
        rc = open_source(s, r, q, &c, &fd, &sb, &sk, &d);
    if (!rc) {
        len = c.size;
        const char *range = http_request_header(r, "x-amz-copy-source-range");
        if (range)
            rc = copy_range(range, c.size, &off, &len, &d);
    }
    if (!rc) {
        alg = upload_alg(u.headers, NULL);
        rc = objstore_part_open(s->store, qget(q, "uploadId"), q->part_number,
                                len, alg >= 0 ? checksum_algs[alg].digest : 0,
                                &w, &d);
    }
    if (!rc) {
        wopen = true;
        rc = objstore_writer_append_fd(&w, fd, off, len, &d);
    }
    if (!rc) {
        rc = objstore_writer_commit(s->store, &w, &d);
        wopen = false;
    }
    if (rc)
        goto out;
    hex_to_etag(w.md5_out, etag);
    if (alg >= 0)
        writer_checksum(&w, alg, sum);
    struct meta_part p = {.number = q->part_number,
                          .blob = w.id,
                          .offset = w.base,
                          .size = w.size,
                          .etag = etag,
                          .checksum = sum,
                          .modified = tm_now()};
    rc = meta_part_put(s->meta, qget(q, "uploadId"), &p, old, &d);
    objstore_writer_settle(s->store, &w, rc == 0, old);
    if (rc == KILN_ENOUPLOAD)
        objstore_upload_end(s->store, qget(q, "uploadId"), NULL);
    if (rc)
        goto out;
    tm_format_iso(p.modified, t);
    buf_adds(&x, XML_HEAD "<CopyPartResult xmlns=\"" XML_NS "\">");
    buf_addf(&x, "<LastModified>%s</LastModified>", t);
    xml_elem(&x, "ETag", etag, false);
    if (sum[0])
        xml_elem(&x, checksum_algs[alg].xml, sum, false);
    buf_adds(&x, "</CopyPartResult>");
    respond_xml(r, 200, &x);
out:
    if (wopen)
        objstore_writer_abort(s->store, &w);
    if (rc)
        fail_diag(r, &d, q);
    if (fd >= 0)
        close(fd);
    object_copy_release(&c);
    upload_release(&u);
    mem_free(sb);
    mem_free(sk);
    buf_release(&x);
}

/* ---- entry points ----------------------------------------------------- */

/* Reads ?partNumber into q; answers the request and returns false if it is
 * not 1 to 10000. */
static bool part_number(struct http_request *r, struct s3_req *q)
{
    int64_t n;
    if (parse_i64_str(qget(q, "partNumber"), 1, 10000, &n) != 0) {
        fail(r, KILN_EINVAL,
             "Part number must be an integer between 1 and 10000, inclusive",
             q);
        return false;
    }
    q->part_number = (int)n;
    return true;
}

/* ---- CORS ------------------------------------------------------------ */

/* The bucket's CORS rules, or NULL (none, or no such bucket). */
static json_t *bucket_cors(const struct s3_ctx *s, const char *bucket)
{
    char *text = NULL;
    json_t *rules = NULL;
    if (bucket && meta_bucket_cors_get(s->meta, bucket, &text) == 0 && *text)
        rules = json_loads(text, 0, NULL);
    mem_free(text);
    return rules;
}

/* PutBucketCors, GetBucketCors, DeleteBucketCors: the owner's. */
static void cors_op(const struct s3_ctx *s, struct http_request *r,
                    struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    json_t *rules = NULL;
    int rc = own_bucket(q, &b, &d);

    if (!rc && q->op == OP_PUT_CORS) {
        rc = s3xml_parse_cors(r->body.data ? r->body.data : "", r->body.len,
                              &rules, &d);
        if (!rc)
            rc = cors_rules_check(rules, &d);
        char *text = rc ? NULL : json_dumps(rules, JSON_COMPACT);
        if (text)
            rc = meta_bucket_cors_set(s->meta, q->bucket, text);
        mem_free(text);
        if (!rc)
            respond_empty(r, 200);
    } else if (!rc && q->op == OP_DELETE_CORS) {
        rc = meta_bucket_cors_set(s->meta, q->bucket, "");
        if (!rc)
            respond_empty(r, 204);
    } else if (!rc) {
        rules = bucket_cors(s, q->bucket);
        if (!rules) {
            rc = diag_set(&d, KILN_ENOCORS,
                          "The CORS configuration does not exist");
        } else {
            static const char *const fields[][2] = {
                {"ID", "ID"},
                {"AllowedHeaders", "AllowedHeader"},
                {"AllowedMethods", "AllowedMethod"},
                {"AllowedOrigins", "AllowedOrigin"},
                {"ExposeHeaders", "ExposeHeader"},
                {"MaxAgeSeconds", "MaxAgeSeconds"},
            };
            struct buf x = BUF_INIT(1 << 20);
            json_t *rule;
            size_t i;
            buf_adds(&x, XML_HEAD "<CORSConfiguration xmlns=\"" XML_NS "\">");
            json_array_foreach(rules, i, rule)
            {
                buf_adds(&x, "<CORSRule>");
                for (size_t k = 0; k < KILN_ARRAY_LEN(fields); k++) {
                    json_t *f = json_object_get(rule, fields[k][0]);
                    size_t n = json_is_array(f) ? json_array_size(f) : !!f;
                    for (size_t j = 0; j < n; j++) {
                        json_t *v = json_is_array(f) ? json_array_get(f, j) : f;
                        buf_addf(&x, "<%s>", fields[k][1]);
                        xml_escaped(&x, json_string_value(v));
                        buf_addf(&x, "</%s>", fields[k][1]);
                    }
                }
                buf_adds(&x, "</CORSRule>");
            }
            buf_adds(&x, "</CORSConfiguration>");
            respond_xml(r, 200, &x);
            buf_release(&x);
        }
    }
    if (rc == KILN_ENOBUCKET && !d.msg[0])
        diag_set(&d, rc, "The specified bucket does not exist");
    if (rc)
        fail_diag(r, &d, q);
    json_decref(rules);
}

/* The Access-Control-* headers of an answer to a browser (Origin) that
 * the bucket's rules allow. */
static void cors_answer(const struct s3_ctx *s, struct http_request *r,
                        const struct s3_req *q)
{
    const char *origin = http_request_header(r, "Origin");
    if (!origin || !q || !q->bucket || !r->responded)
        return;
    json_t *rules = bucket_cors(s, q->bucket);
    json_t *rule = rules ? cors_match(rules, origin, r->method, NULL) : NULL;
    if (rule)
        cors_headers(r, rule, origin, false, NULL);
    json_decref(rules);
}

void s3_preflight(const struct s3_ctx *s, struct http_request *r)
{
    struct s3_req *q = xcalloc(1, sizeof(*q));
    struct kiln_diag d = {0};
    const char *origin = http_request_header(r, "Origin");
    const char *method =
        http_request_header(r, "Access-Control-Request-Method");
    const char *headers =
        http_request_header(r, "Access-Control-Request-Headers");
    json_t *rules = NULL, *rule = NULL;

    q->s = s;
    q->w.fd = -1;
    str_copy(r->op, "PreflightRequest", sizeof(r->op));
    if (!origin) {
        fail(r, KILN_EBADREQUEST,
             "Insufficient information. Origin request header needed.", q);
    } else if (!method) {
        fail(r, KILN_EBADREQUEST, "Invalid Access-Control-Request-Method: null",
             q);
    } else if (split_path(q, r->path, http_request_header(r, "Host"), s->domain,
                          &d) != 0 ||
               !(rules = bucket_cors(s, q->bucket))) {
        fail(r, KILN_ECORSDENIED,
             "CORSResponse: CORS is not enabled for this bucket.", q);
    } else if (!(rule = cors_match(rules, origin, method, headers))) {
        fail(r, KILN_ECORSDENIED,
             "CORSResponse: This CORS request is not allowed. This is usually "
             "because the evalution of Origin, request method / "
             "Access-Control-Request-Method or Access-Control-Request-Headers "
             "are not whitelisted by the resource's CORS spec.",
             q);
    } else {
        respond_empty(r, 200);
        cors_headers(r, rule, origin, true, headers);
    }
    json_decref(rules);
    s3_req_free(q);
}

/* ---- entry points ----------------------------------------------------- */

/* ---- ACLs and the bucket settings kiln does not keep ------------------ */

/* x-amz-acl and x-amz-grant-*: with ACLs disabled (Object Ownership
 * BucketOwnerEnforced), only what gives the owner alone full control is
 * taken, as in S3: no canned ACL, "private" or
 * "bucket-owner-full-control", and no grants. */
static bool acl_headers_owner_only(struct http_request *r)
{
    static const char *const grants[] = {
        "x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
        "x-amz-grant-write", "x-amz-grant-write-acp"};
    const char *acl = http_request_header(r, "x-amz-acl");
    if (acl && strcmp(acl, "private") != 0 &&
        strcmp(acl, "bucket-owner-full-control") != 0)
        return false;
    for (size_t i = 0; i < KILN_ARRAY_LEN(grants); i++)
        if (http_request_header(r, grants[i]))
            return false;
    return true;
}

/* GetBucketAcl, GetObjectAcl: the owner's FULL_CONTROL, always.
 * PutBucketAcl, PutObjectAcl: taken when they ask for just that (a canned
 * owner-only ACL, or an <AccessControlPolicy> granting the owner
 * FULL_CONTROL and no one else anything), else
 * AccessControlListNotSupported. */
static void acl_op(const struct s3_ctx *s, struct http_request *r,
                   struct s3_req *q)
{
    struct kiln_diag d = {0};
    struct meta_bucket b;
    struct object_copy c = {0};
    bool object = q->op == OP_GET_OBJECT_ACL || q->op == OP_PUT_OBJECT_ACL;
    bool owner_only = http_request_header(r, "x-amz-acl") != NULL;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (object &&
        meta_object_get(s->meta, q->bucket, q->key, copy_object_row, &c)) {
        fail(r, KILN_ENOTFOUND, "The specified key does not exist.", q);
        return;
    }
    object_copy_release(&c);
    if (q->op == OP_PUT_BUCKET_ACL || q->op == OP_PUT_OBJECT_ACL) {
        if (r->body.len && s3xml_parse_acl(r->body.data, r->body.len, b.account,
                                           &owner_only, &d) != 0)
            fail_diag(r, &d, q);
        else if (!owner_only)
            fail(r, KILN_EACLDISABLED, "The bucket does not allow ACLs", q);
        else
            respond_empty(r, 200);
        return;
    }
    struct buf x = BUF_INIT(4096);
    buf_adds(&x, XML_HEAD "<AccessControlPolicy xmlns=\"" XML_NS "\">");
    owner_xml(&x, b.account);
    buf_addf(&x,
             "<AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/"
             "2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>%s</ID>"
             "<DisplayName>%s</DisplayName></Grantee><Permission>FULL_CONTROL"
             "</Permission></Grant></AccessControlList></AccessControlPolicy>",
             b.account, b.account);
    respond_xml(r, 200, &x);
    buf_release(&x);
}

/* PutBucketOwnershipControls and PutPublicAccessBlock: taken when they
 * ask for what kiln's buckets always are (BucketOwnerEnforced; all four
 * public-access blocks on), else NotImplemented, since kiln has no ACLs
 * to enable and makes nothing public. */
static void fixed_setting(struct http_request *r, struct s3_req *q)
{
    static const char *const blocks[] = {"BlockPublicAcls", "IgnorePublicAcls",
                                         "BlockPublicPolicy",
                                         "RestrictPublicBuckets"};
    bool ownership = q->op == OP_PUT_OWNERSHIP;
    struct kiln_diag d = {0};
    struct meta_bucket b;
    json_t *leaves = NULL;
    bool same = true;

    if (own_bucket(q, &b, &d) != 0 ||
        s3xml_parse_leaves(r->body.data ? r->body.data : "", r->body.len,
                           ownership ? "OwnershipControls"
                                     : "PublicAccessBlockConfiguration",
                           &leaves, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if (ownership) {
        json_t *v = json_object_get(leaves, "ObjectOwnership");
        same = json_array_size(v) == 1 &&
               strcmp(json_string_value(json_array_get(v, 0)),
                      "BucketOwnerEnforced") == 0;
    }
    for (size_t i = 0; !ownership && i < KILN_ARRAY_LEN(blocks); i++) {
        json_t *v = json_object_get(leaves, blocks[i]);
        same &= json_array_size(v) == 1 &&
                strcmp(json_string_value(json_array_get(v, 0)), "true") == 0;
    }
    json_decref(leaves);
    if (same)
        respond_empty(r, 200);
    else
        fail(r, KILN_EUNKNOWNOP,
             ownership ? "kiln's buckets keep ACLs disabled: "
                         "ObjectOwnership is always BucketOwnerEnforced."
                       : "kiln makes nothing public: the four public access "
                         "blocks are always on.",
             q);
}

/* A bucket setting of bucket_defaults[], for the bucket's owner. */
static void bucket_default(struct http_request *r, struct s3_req *q)
{
    const struct bucket_default *bd = bucket_default_of(q);
    struct kiln_diag d = {0};
    struct meta_bucket b;

    if (own_bucket(q, &b, &d) != 0) {
        fail_diag(r, &d, q);
    } else if (bd->error) {
        fail(r, bd->error, bd->text, q);
    } else {
        struct buf x = BUF_INIT(4096);
        buf_adds(&x, XML_HEAD);
        buf_adds(&x, bd->text);
        respond_xml(r, 200, &x);
        buf_release(&x);
    }
}

static void begin(const struct s3_ctx *s, struct http_request *r,
                  const struct auth_result *ar, const char *payload_hash,
                  struct s3_req **out);
static void finish(const struct s3_ctx *s, struct http_request *r,
                   struct s3_req *q);

void s3_begin(const struct s3_ctx *s, struct http_request *r,
              const struct auth_result *ar, const char *payload_hash,
              struct s3_req **out)
{
    begin(s, r, ar, payload_hash, out);
    cors_answer(s, r, *out);
}

void s3_finish(const struct s3_ctx *s, struct http_request *r, struct s3_req *q)
{
    finish(s, r, q);
    cors_answer(s, r, q);
}

static void begin(const struct s3_ctx *s, struct http_request *r,
                  const struct auth_result *ar, const char *payload_hash,
                  struct s3_req **out)
{
    struct s3_req *q = xcalloc(1, sizeof(*q));
    struct kiln_diag d = {0};
    int rc;

    *out = q;
    q->s = s;
    q->w.fd = -1;
    q->part_alg = -1;
    str_copy(q->account, ar->account, sizeof(q->account));
    const char *owner = http_request_header(r, "x-amz-expected-bucket-owner");
    if (owner)
        str_copy(q->expected_owner, owner, sizeof(q->expected_owner));
    str_copy(q->payload_hash, payload_hash, sizeof(q->payload_hash));
    bool query_text = parse_query(q, r->query);
    rc = split_path(q, r->path, http_request_header(r, "Host"), s->domain, &d);
    if (!rc && !query_text)
        rc = diag_set(&d, KILN_EBADURI, "Couldn't parse the specified URI.");
    if (rc) {
        fail_diag(r, &d, q);
        return;
    }
    q->op = route(q, r->method, r);
    str_copy(r->op, op_name(q), sizeof(r->op));
    r->body_max = 0;
    /* The only version of an object is "null" (see route()). */
    const char *version = qget(q, "versionId");
    if (version && strcmp(version, "null") != 0 && q->key &&
        q->op != OP_UNSUPPORTED) {
        fail(r, KILN_EINVAL, "Invalid version id specified", q);
        return;
    }
    if ((q->op == OP_PUT_OBJECT || q->op == OP_COPY_OBJECT ||
         q->op == OP_CREATE_UPLOAD) &&
        stored_headers_valid(r, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    if ((q->op == OP_PUT_OBJECT || q->op == OP_COPY_OBJECT ||
         q->op == OP_CREATE_UPLOAD || q->op == OP_CREATE_BUCKET ||
         q->op == OP_PUT_BUCKET_ACL || q->op == OP_PUT_OBJECT_ACL) &&
        !acl_headers_owner_only(r)) {
        if (q->op == OP_CREATE_BUCKET)
            fail(r, KILN_EBUCKETACL,
                 "Bucket cannot have ACLs set with ObjectOwnership's "
                 "BucketOwnerEnforced setting",
                 q);
        else
            fail(r, KILN_EACLDISABLED, "The bucket does not allow ACLs", q);
        return;
    }
    const char *tagging = http_request_header(r, "x-amz-tagging");
    if (tagging &&
        (q->op == OP_PUT_OBJECT || q->op == OP_COPY_OBJECT ||
         q->op == OP_CREATE_UPLOAD) &&
        tags_from_header(tagging, &q->tags, &d) != 0) {
        fail_diag(r, &d, q);
        return;
    }
    switch (q->op) {
    case OP_UNSUPPORTED:
        fail(r, KILN_EUNKNOWNOP,
             "A header or query you provided requested a function that is "
             "not implemented.",
             q);
        return;
    case OP_CREATE_BUCKET:
    case OP_DELETE_OBJECTS:
    case OP_COMPLETE_UPLOAD:
    case OP_PUT_TAGGING:
    case OP_PUT_CORS:
    case OP_PUT_BUCKET_ACL:
    case OP_PUT_OBJECT_ACL:
    case OP_PUT_OWNERSHIP:
    case OP_PUT_PUBLIC_BLOCK:
        r->body_max = XML_BODY_MAX;
        if (r->has_length && r->content_length > XML_BODY_MAX)
            fail(r, KILN_ETOOBIG, "Your request body is too large.", q);
        return;
    case OP_UPLOAD_PART: {
        struct meta_bucket b;
        struct upload_copy u;
        if (!part_number(r, q))
            return;
        rc = own_bucket(q, &b, &d);
        if (!rc)
            rc = find_upload(s, q, &u, &d);
        if (!rc) {
            q->part_alg = upload_alg(u.headers, NULL);
            upload_release(&u);
            rc = start_upload(s, r, q, ar, &d);
        }
        if (rc)
            fail_diag(r, &d, q);
        return;
    }
    case OP_UPLOAD_PART_COPY:
        part_number(r, q);
        return;
    case OP_PUT_OBJECT: {
        struct meta_bucket b;
        const char *inm = http_request_header(r, "If-None-Match");
        rc = own_bucket(q, &b, &d);
        if (!rc && inm && strcmp(inm, "*") == 0) {
            struct object_copy c = {0};
            if (meta_object_get(s->meta, q->bucket, q->key, copy_object_row,
                                &c) == 0) {
                object_copy_release(&c);
                rc = diag_set(&d, KILN_EPRECONDITION,
                              "At least one of the pre-conditions you "
                              "specified did not hold");
            }
        }
        if (!rc)
            rc = start_upload(s, r, q, ar, &d);
        if (rc)
            fail_diag(r, &d, q);
        return;
    }
    default:
        /* Everything else has no body worth keeping; answer at DONE. */
        r->body_max = 64 * 1024;
        return;
    }
}

static void finish(const struct s3_ctx *s, struct http_request *r,
                   struct s3_req *q)
{
    struct kiln_diag d = {0};

    if (r->body_overflow) {
        fail(r, KILN_ETOOBIG, "Your request body is too large.", q);
        return;
    }
    /* An XML body, read whole, is checked here; uploads are checked as
     * they are written. */
    if (r->body_max == XML_BODY_MAX) {
        uint8_t md5[16];
        EVP_Digest(r->body.len ? r->body.data : "", r->body.len, md5, NULL,
                   EVP_md5(), NULL);
        if (md5_check(http_request_header(r, "Content-MD5"), md5, &d) != 0) {
            fail_diag(r, &d, q);
            return;
        }
    }
    switch (q->op) {
    case OP_PUT_OBJECT:
    case OP_UPLOAD_PART:
        finish_upload(s, r, q);
        break;
    case OP_LIST_BUCKETS:
        list_buckets(s, r, q);
        break;
    case OP_CREATE_BUCKET:
        create_bucket(s, r, q);
        break;
    case OP_HEAD_BUCKET:
    case OP_DELETE_BUCKET:
    case OP_BUCKET_LOCATION:
    case OP_GET_VERSIONING:
        bucket_op(s, r, q);
        break;
    case OP_PUT_CORS:
    case OP_GET_CORS:
    case OP_DELETE_CORS:
        cors_op(s, r, q);
        break;
    case OP_GET_BUCKET_ACL:
    case OP_PUT_BUCKET_ACL:
    case OP_GET_OBJECT_ACL:
    case OP_PUT_OBJECT_ACL:
        acl_op(s, r, q);
        break;
    case OP_BUCKET_DEFAULT:
        bucket_default(r, q);
        break;
    case OP_PUT_OWNERSHIP:
    case OP_PUT_PUBLIC_BLOCK:
        fixed_setting(r, q);
        break;
    case OP_LIST_V1:
    case OP_LIST_V2:
    case OP_LIST_VERSIONS:
        list_objects(s, r, q);
        break;
    case OP_LIST_UPLOADS:
        list_uploads(s, r, q);
        break;
    case OP_DELETE_OBJECTS:
        delete_objects(s, r, q);
        break;
    case OP_COPY_OBJECT:
        copy_object(s, r, q);
        break;
    case OP_UPLOAD_PART_COPY:
        upload_part_copy(s, r, q);
        break;
    case OP_GET_OBJECT:
    case OP_HEAD_OBJECT:
        get_object(s, r, q, q->op == OP_HEAD_OBJECT);
        break;
    case OP_LIST_PARTS:
        list_parts(s, r, q);
        break;
    case OP_DELETE_OBJECT:
        delete_object(s, r, q);
        break;
    case OP_ABORT_UPLOAD:
        abort_upload(s, r, q);
        break;
    case OP_CREATE_UPLOAD:
        create_upload(s, r, q);
        break;
    case OP_COMPLETE_UPLOAD:
        complete_upload(s, r, q);
        break;
    case OP_GET_TAGGING:
        get_tagging(s, r, q);
        break;
    case OP_PUT_TAGGING:
    case OP_DELETE_TAGGING:
        set_tagging(s, r, q);
        break;
    case OP_UNSUPPORTED:
        fail(r, KILN_EUNKNOWNOP, "Not implemented.", q);
        break;
    }
}

void s3_req_free(struct s3_req *q)
{
    if (!q)
        return;
    if (q->writer_open)
        objstore_writer_abort(q->s->store, &q->w);
    if (q->chunked_on)
        chunked_release(&q->ch);
    for (size_t i = 0; i < q->nq; i++) {
        mem_free(q->q[i].name);
        mem_free(q->q[i].value);
    }
    json_decref(q->tags);
    mem_free(q->bucket);
    mem_free(q->key);
    mem_free(q);
}
