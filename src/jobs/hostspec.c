/*
 * hostspec.c - a cluster host's own container tree, fetched over HTTP
 * (see hostspec.h). Downloads stream to disk; only the spec is held in
 * memory.
 */
#include "jobs/hostspec.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsx.h"
#include "base/mem.h"
#include "base/str.h"
#include "formats/artifact.h"

#define SPEC_MAX ((size_t)64 << 20)

struct sink {
    int fd;          /* write here, or */
    struct buf *mem; /* append here (capped by its limit) */
    bool failed;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t len = size * n;
    if (s->mem) {
        if (buf_add(s->mem, p, len) != 0)
            s->failed = true;
        return s->failed ? 0 : len;
    }
    if (!fsx_write_all(s->fd, p, len)) {
        s->failed = true;
        return 0;
    }
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ctx)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t got = read(fd, p, size * n);
        if (got < 0 && errno == EINTR)
            continue;
        return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
    }
}

/* The URL without its query: what an error message may show. */
static void shown(const char *url, char *out, size_t size)
{
    size_t n = strcspn(url, "?");
    snprintf(out, size, "%.*s", (int)(n < 512 ? n : 512), url);
}

/* GETs url into the sink (method "GET"), or PUTs the file fd (method
 * "PUT"); anything but a 2xx is an error. */
static int transfer(const char *method, const char *url, struct sink *sink,
                    int put_fd, struct kiln_diag *d)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char where[600];
    long status = 0;
    CURLcode res;

    shown(url, where, sizeof(where));
    if (!c)
        return diag_set(d, KILN_ENOMEM, "cannot start an HTTP transfer");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    if (strcmp(method, "PUT") == 0) {
        struct stat st;
        if (fstat(put_fd, &st) != 0) {
            curl_easy_cleanup(c);
            return diag_set(d, KILN_EIO, "cannot read what to upload");
        }
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &put_fd);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    } else {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    }
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (sink && sink->failed)
        return diag_set(d, KILN_EIO, "cannot store what %s %s returned", method,
                        where);
    if (res != CURLE_OK)
        return diag_set(d, KILN_EIO, "%s %s failed: %s", method, where,
                        curl_easy_strerror(res));
    if (status < 200 || status > 299)
        return diag_set(d, KILN_EIO, "%s %s answered HTTP %ld", method, where,
                        status);
    return 0;
}

static int get_file(const char *url, const char *path, struct kiln_diag *d)
{
    struct sink s = {.fd = -1};
    s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s.fd < 0)
        return diag_set(d, KILN_EIO, "cannot create %s: %s", path,
                        strerror(errno));
    int rc = transfer("GET", url, &s, -1, d);
    if (close(s.fd) != 0 && !rc)
        rc = diag_set(d, KILN_EIO, "cannot write %s", path);
    return rc;
}

static int put_file(const char *url, const char *path, struct kiln_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot open %s: %s", path,
                        strerror(errno));
    int rc = transfer("PUT", url, NULL, fd, d);
    close(fd);
    return rc;
}

static int write_json(const char *dir, const char *name, json_t *j,
                      struct kiln_diag *d)
{
    struct buf p = BUF_INIT(8192);
    int rc = 0;
    buf_addf(&p, "%s/config/%s", dir, name);
    if (!json_is_object(j) || json_dump_file(j, buf_cstr(&p), 0) != 0)
        rc = diag_set(d, KILN_EINVAL, "the host spec has no usable %s", name);
    buf_release(&p);
    return rc;
}

/* Downloads every object of every channel into input/data/. */
static int fetch_channels(struct hostspec_tree *t, struct kiln_diag *d)
{
    const char *name;
    json_t *list;
    int rc = 0;

    json_object_foreach(json_object_get(t->spec, "channels"), name, list)
    {
        struct buf p = BUF_INIT(64 * 1024);
        size_t i;
        json_t *o;
        buf_addf(&p, "%s/data/%s", t->input, name);
        if (!fsx_safe_relpath(name) || strchr(name, '/'))
            rc = diag_set(d, KILN_EINVAL, "bad channel name in the host spec");
        else
            mkdir(buf_cstr(&p), 0755);
        size_t base = p.len;
        json_array_foreach(list, i, o)
        {
            const char *rel = json_string_value(json_object_get(o, "path"));
            const char *url = json_string_value(json_object_get(o, "url"));
            if (rc)
                break;
            if (!rel || !url || !fsx_safe_relpath(rel)) {
                rc = diag_set(d, KILN_EINVAL, "bad object in the host spec");
                break;
            }
            p.len = base;
            buf_addf(&p, "/%s", rel);
            fsx_make_parents(p.data, base);
            rc = get_file(url, buf_cstr(&p), d);
        }
        buf_release(&p);
        if (rc)
            break;
    }
    return rc;
}

int hostspec_fetch(const char *url, const char *tmpdir, struct hostspec_tree *t,
                   struct kiln_diag *d)
{
    struct buf body = BUF_INIT(SPEC_MAX);
    struct sink s = {.fd = -1, .mem = &body};
    static const char *const subs[] = {"/input/config", "/input/data",
                                       "/output/data"};
    int rc;

    memset(t, 0, sizeof(*t));
    snprintf(t->root, sizeof(t->root), "%s/kiln-host-XXXXXX", tmpdir);
    if (!mkdtemp(t->root)) {
        t->root[0] = '\0';
        return diag_set(d, KILN_EIO, "cannot create a directory in %s: %s",
                        tmpdir, strerror(errno));
    }
    snprintf(t->input, sizeof(t->input), "%s/input", t->root);
    snprintf(t->model, sizeof(t->model), "%s/model", t->root);
    snprintf(t->output, sizeof(t->output), "%s/output", t->root);
    mkdir(t->input, 0755);
    mkdir(t->model, 0755);
    mkdir(t->output, 0755);
    for (size_t i = 0; i < KILN_ARRAY_LEN(subs); i++) {
        char p[4400];
        snprintf(p, sizeof(p), "%s%s", t->root, subs[i]);
        mkdir(p, 0755);
    }
    rc = transfer("GET", url, &s, -1, d);
    if (!rc) {
        json_error_t e;
        t->spec = json_loadb(body.data, body.len, 0, &e);
        if (!json_is_object(t->spec))
            rc = diag_set(d, KILN_EINVAL, "the host spec is not JSON: %s",
                          e.text);
    }
    buf_release(&body);
    if (!rc)
        rc = write_json(t->input, "resourceconfig.json",
                        json_object_get(t->spec, "resourceconfig"), d);
    if (!rc)
        rc = write_json(t->input, "hyperparameters.json",
                        json_object_get(t->spec, "hyperparameters"), d);
    if (!rc)
        rc = write_json(t->input, "inputdataconfig.json",
                        json_object_get(t->spec, "inputdataconfig"), d);
    if (!rc)
        rc = fetch_channels(t, d);
    return rc;
}

/* Packs dir and PUTs it to the spec's `member` URL, if the spec has one. */
static int put_dir(struct hostspec_tree *t, const char *dir, const char *member,
                   struct kiln_diag *d)
{
    const char *url = json_string_value(json_object_get(t->spec, member));
    struct buf tgz = BUF_INIT(8192);
    int rc;

    if (!url)
        return 0;
    buf_addf(&tgz, "%s/%s.tar.gz", t->root, member);
    rc = artifact_pack(dir, buf_cstr(&tgz), d);
    if (!rc)
        rc = put_file(url, buf_cstr(&tgz), d);
    unlink(buf_cstr(&tgz));
    buf_release(&tgz);
    return rc;
}

int hostspec_report(struct hostspec_tree *t, bool failed, struct kiln_diag *d)
{
    struct buf p = BUF_INIT(8192);
    int rc = 0;

    if (!t->spec)
        return 0;
    if (failed) {
        const char *url =
            json_string_value(json_object_get(t->spec, "failure_url"));
        buf_addf(&p, "%s/failure", t->output);
        if (url && access(buf_cstr(&p), R_OK) == 0)
            rc = put_file(url, buf_cstr(&p), d);
    } else {
        rc = put_dir(t, t->model, "model_url", d);
        buf_addf(&p, "%s/data", t->output);
        if (!rc)
            rc = put_dir(t, buf_cstr(&p), "output_url", d);
    }
    buf_release(&p);
    /* The host's transfers are over: free what OpenSSL keeps for this
     * thread (its error queue), which libcurl made it allocate. */
    OPENSSL_thread_stop();
    return rc;
}

void hostspec_release(struct hostspec_tree *t)
{
    if (t->root[0])
        fsx_remove_tree(t->root);
    json_decref(t->spec);
    memset(t, 0, sizeof(*t));
}

void hostspec_staging_key(const char *prefix, int host, const char *name,
                          struct buf *out)
{
    buf_addf(out, "%skiln-hosts/algo-%d/%s", prefix, host, name);
}
