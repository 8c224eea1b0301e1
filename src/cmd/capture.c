/*
 * capture.c - endpoint data capture files (see capture.h).
 */
#include "cmd/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

void capture_cfg_init(struct capture_cfg *c, json_t *dcc)
{
    memset(c, 0, sizeof(*c));
    if (!dcc)
        return;
    json_t *e = json_object_get(dcc, "EnableCapture");
    const char *uri =
        json_string_value(json_object_get(dcc, "DestinationS3Uri"));
    c->on = (!e || json_is_true(e)) && uri && str_starts(uri, "s3://");
    c->pct = (int)json_integer_value(
        json_object_get(dcc, "InitialSamplingPercentage"));
    json_t *opts = json_object_get(dcc, "CaptureOptions"), *o;
    size_t i;
    json_array_foreach(opts, i, o)
    {
        const char *m = json_string_value(json_object_get(o, "CaptureMode"));
        if (m && strcmp(m, "Input") == 0)
            c->input = true;
        else if (m && strcmp(m, "Output") == 0)
            c->output = true;
        else if (m && strcmp(m, "InputAndOutput") == 0)
            c->input = c->output = true;
    }
    json_t *hdr = json_object_get(dcc, "CaptureContentTypeHeader");
    c->csv_types = json_incref(json_object_get(hdr, "CsvContentTypes"));
    c->json_types = json_incref(json_object_get(hdr, "JsonContentTypes"));
    if (c->on) {
        const char *key;
        if (objstore_uri_split(uri, c->bucket, sizeof(c->bucket), &key) != 0) {
            c->on = false;
            return;
        }
        str_copy(c->prefix, key, sizeof(c->prefix));
        size_t n = strlen(c->prefix);
        while (n && c->prefix[n - 1] == '/')
            c->prefix[--n] = '\0';
    }
}

void capture_cfg_release(struct capture_cfg *c)
{
    json_decref(c->csv_types);
    json_decref(c->json_types);
    c->csv_types = c->json_types = NULL;
}

bool capture_sample(const struct capture_cfg *c, struct capture_buf *b)
{
    if (!c->on || c->pct <= 0)
        return false;
    b->acc += (unsigned)c->pct;
    if (b->acc < 100)
        return false;
    b->acc -= 100;
    return true;
}

/* Whether media type `ct` (parameters ignored) is in the list. */
static bool listed(json_t *list, const char *ct)
{
    size_t n = strcspn(ct, "; "), i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *s = json_string_value(t);
        if (s && strlen(s) == n && strncasecmp(s, ct, n) == 0)
            return true;
    }
    return false;
}

static json_t *part(const struct capture_cfg *c, const char *ct,
                    const char *mode, const void *data, size_t len)
{
    json_t *o = json_object();
    const char *enc = listed(c->csv_types, ct)    ? "CSV"
                      : listed(c->json_types, ct) ? "JSON"
                                                  : "BASE64";
    json_t *text = NULL;

    json_object_set_new(o, "observedContentType", json_string(ct));
    json_object_set_new(o, "mode", json_string(mode));
    /* CSV and JSON are kept as text when they are valid UTF-8. */
    if (strcmp(enc, "BASE64") != 0)
        text = json_stringn(data, len);
    if (!text) {
        enc = "BASE64";
        char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
        text = json_string(b64);
        mem_free(b64);
    }
    json_object_set_new(o, "data", text);
    json_object_set_new(o, "encoding", json_string(enc));
    return o;
}

static void uuid(char out[37])
{
    uint8_t r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        memset(r, 0, sizeof(r));
    str_uuid(r, out);
}

static int dump_to_buf(const char *p, size_t n, void *ctx)
{
    return buf_add(ctx, p, n) == 0 ? 0 : -1;
}

int capture_format(const struct capture_cfg *c, const struct invoke_req *req,
                   const struct invoke_resp *resp, struct buf *line)
{
    json_t *rec = json_object(), *data = json_object(), *meta = json_object();
    char id[37], when[TM_ISO_LEN];
    int rc = 0;

    if (c->input)
        json_object_set_new(data, "endpointInput",
                            part(c, req->content_type ? req->content_type : "",
                                 "INPUT", req->body, req->len));
    if (c->output)
        json_object_set_new(data, "endpointOutput",
                            part(c, resp->content_type, "OUTPUT",
                                 resp->body.data, resp->body.len));
    json_object_set_new(rec, "captureData", data);
    uuid(id);
    tm_format_iso(tm_now(), when);
    json_object_set_new(meta, "eventId", json_string(id));
    if (req->inference_id)
        json_object_set_new(meta, "inferenceId",
                            json_string(req->inference_id));
    json_object_set_new(meta, "inferenceTime", json_string(when));
    json_object_set_new(rec, "eventMetadata", meta);
    json_object_set_new(rec, "eventVersion", json_string("0"));
    if (json_dump_callback(rec, dump_to_buf, line, JSON_COMPACT) != 0 ||
        buf_addc(line, '\n') != 0)
        rc = KILN_ETOOBIG;
    json_decref(rec);
    return rc;
}

int capture_write(struct objstore *store, struct meta *meta,
                  const char *account, const char *bucket, const char *prefix,
                  const char *endpoint, const char *variant, double first,
                  const struct buf *data, struct kiln_diag *d)
{
    struct meta_bucket bk;
    char key[1100], id[37];
    struct tm tm;
    time_t t = (time_t)first;

    if (meta_bucket_get(meta, bucket, &bk) != 0 ||
        strcmp(bk.account, account) != 0)
        return diag_set(d, KILN_ENOBUCKET,
                        "the capture bucket %s does not exist or belongs to "
                        "another account",
                        bucket);
    gmtime_r(&t, &tm);
    uuid(id);
    snprintf(key, sizeof(key),
             "%s%s%s/%s/%04d/%02d/%02d/%02d/%02d-%02d-%03d-%s.jsonl", prefix,
             *prefix ? "/" : "", endpoint, variant, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)((first - (double)t) * 1000), id);
    return objstore_put_data(store, bucket, key, data->data, data->len,
                             "application/octet-stream", d);
}
