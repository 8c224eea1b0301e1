/*
 * server.c - `kiln server`: configuration, data directory, first key, the
 * front door, and a clean shutdown on SIGINT or SIGTERM.
 *
 * SIGINT and SIGTERM only wake the main thread (cmd_signals_wait), so the
 * shutdown path is ordinary code that frees everything (the ASan leak check
 * runs at exit).
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/validate.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "cmd/asyncq.h"
#include "cmd/front.h"
#include "cmd/hoster.h"
#include "cmd/monitors.h"
#include "cmd/processor.h"
#include "cmd/scaler.h"
#include "cmd/trainer.h"
#include "cmd/transformer.h"
#include "cmd/tuner.h"
#include "http/server.h"
#include "meta/meta.h"
#include "s3/objstore.h"

int cmd_open_data_dir(const struct kiln_config *c, struct meta **out,
                      struct kiln_diag *d)
{
    struct buf path = BUF_INIT(4096);
    int rc;

    if (mkdir(c->data_dir, 0700) != 0 && errno != EEXIST)
        return diag_set(d, KILN_EIO, "cannot create data dir '%s': %s",
                        c->data_dir, strerror(errno));
    buf_addf(&path, "%s/kiln.db", c->data_dir);
    rc = meta_open(buf_cstr(&path), out, d);
    buf_release(&path);
    return rc;
}

static void random_chars(char *out, size_t n, const char *alphabet)
{
    uint8_t b[64];
    size_t alen = strlen(alphabet);

    KILN_ASSERT(n <= sizeof(b));
    KILN_ASSERT(getrandom(b, n, 0) == (ssize_t)n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[b[i] % alen];
    out[n] = '\0';
}

void cmd_new_key(const char *account, const char *user, struct meta_key *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->akid, "AKIA", 4);
    random_chars(k->akid + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    random_chars(k->secret, 40,
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789+/");
    str_copy(k->account, account, sizeof(k->account));
    str_copy(k->user, user, sizeof(k->user));
    k->created = (double)time(NULL);
}

int cmd_write_credentials(const char *data_dir, const struct meta_key *k,
                          struct kiln_diag *d)
{
    struct buf path = BUF_INIT(4096), tmp = BUF_INIT(4096),
               text = BUF_INIT(4096);
    int fd = -1, rc = 0;

    buf_addf(&path, "%s/credentials", data_dir);
    buf_addf(&tmp, "%s/.credentials.tmp", data_dir);
    buf_addf(&text,
             "# Written by kiln for the key it created on first start.\n"
             "# export AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=kiln\n"
             "[kiln]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             buf_cstr(&path), k->akid, k->secret);
    fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len ||
        fsync(fd) != 0 || rename(buf_cstr(&tmp), buf_cstr(&path)) != 0)
        rc = diag_set(d, KILN_EIO, "cannot write '%s': %s", buf_cstr(&path),
                      strerror(errno));
    if (fd >= 0)
        close(fd);
    buf_release(&path);
    buf_release(&tmp);
    buf_release(&text);
    return rc;
}

static int count_key(void *ctx, const struct meta_key *k)
{
    (void)k;
    (*(int *)ctx)++;
    return 0;
}

static int first_key(const struct kiln_config *c, struct meta *m,
                     struct kiln_diag *d)
{
    struct meta_key k;
    int n = 0, rc;

    rc = meta_key_each(m, count_key, &n);
    if (rc || n > 0)
        return rc;
    cmd_new_key(c->account_id, "admin", &k);
    rc = meta_key_add(m, &k, d);
    if (!rc)
        rc = cmd_write_credentials(c->data_dir, &k, d);
    if (!rc) {
        printf("kiln: created an access key for account %s (kept in "
               "%s/kiln.db and %s/credentials)\n"
               "  aws_access_key_id     = %s\n"
               "  aws_secret_access_key = %s\n"
               "Try it:\n"
               "  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s "
               "aws --endpoint-url http://%s:%d --region %s "
               "sts get-caller-identity\n",
               k.account, c->data_dir, c->data_dir, k.akid, k.secret, k.akid,
               k.secret, c->bind, c->port, c->region);
        fflush(stdout);
    }
    memset(&k, 0, sizeof(k));
    return rc;
}

/* The --price-list file: {"<instance type>": USD per hour, or {"training":
 * n, "hosting": n, "transform": n, "processing": n}}. */
static int load_prices(const char *path, json_t **out, struct kiln_diag *d)
{
    json_error_t e;
    json_t *p = json_load_file(path, 0, &e), *v;
    const char *type;
    if (!p)
        return diag_set(d, KILN_EINVAL, "price list %s: %s (line %d)", path,
                        e.text, e.line);
    bool ok = json_is_object(p);
    json_object_foreach(p, type, v)
    {
        const char *kind;
        json_t *n;
        ok = ok && (json_is_number(v) || json_is_object(v));
        json_object_foreach(v, kind, n) ok =
            ok &&
            (strcmp(kind, "training") == 0 || strcmp(kind, "hosting") == 0 ||
             strcmp(kind, "transform") == 0 ||
             strcmp(kind, "processing") == 0) &&
            json_is_number(n);
    }
    if (!ok) {
        json_decref(p);
        return diag_set(d, KILN_EINVAL,
                        "price list %s: expected {\"ml.m5.large\": 0.115, "
                        "...}, each price a number or an object of "
                        "\"training\", \"hosting\", \"transform\" and "
                        "\"processing\" prices",
                        path);
    }
    *out = p;
    return 0;
}

int cmd_server(int argc, char **argv)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    struct meta *m = NULL;
    struct http_server *srv = NULL;
    struct objstore *store = NULL;
    struct trainer *trainer = NULL;
    struct hoster *hoster = NULL;
    struct asyncq *asyncq = NULL;
    struct transformer *transformer = NULL;
    struct processor *processor = NULL;
    struct monitors *monitors = NULL;
    struct tuner *tuner = NULL;
    json_t *prices = NULL;
    struct scaler *scaler = NULL;
    struct front f = {0};
    int rest[64], nrest = 0, sig = 0, rc, status = 1;

    config_init(&c);
    if (argc > (int)KILN_ARRAY_LEN(rest)) {
        fprintf(stderr, "kiln server: too many arguments\n");
        goto out;
    }
    rc = config_load(&c, argc, argv, rest, &nrest, &d);
    if (!rc && nrest > 0)
        rc = diag_set(&d, KILN_EINVAL, "unknown argument '%s'", argv[rest[0]]);
    if (rc) {
        fprintf(stderr, "kiln server: %s\n", d.msg);
        goto out;
    }
    log_set_level((enum log_level)log_level_parse(c.log_level));

    cmd_signals_setup();

    rc = cmd_open_data_dir(&c, &m, &d);
    /* Jobs and model servers run in directories of their own: every path
     * handed to them must be absolute. */
    char abs[PATH_MAX];
    if (!rc && realpath(c.data_dir, abs)) {
        mem_free(c.data_dir);
        c.data_dir = xstrdup(abs);
    }
    if (!rc)
        rc = first_key(&c, m, &d);
    if (!rc && c.price_list)
        rc = load_prices(c.price_list, &prices, &d);
    if (!rc)
        rc = objstore_open(c.data_dir, m, &store, &d);
    if (!rc) {
        struct trainer_opts to = {.meta = m,
                                  .store = store,
                                  .data_dir = c.data_dir,
                                  .region = c.region,
                                  .max_jobs = c.max_jobs,
                                  .max_instances = c.max_training_instances,
                                  .stop_grace_seconds = c.stop_grace,
                                  .keep_dirs = c.keep_job_dirs != 0,
                                  .mpirun = c.mpirun,
                                  .hostfile = c.hostfile,
                                  .mpi_options = c.mpi_options,
                                  .cluster_url = c.cluster_url,
                                  .bwrap = c.bwrap,
                                  .python = c.python};
        rc = trainer_new(&to, &trainer, &d);
    }
    if (!rc) {
        struct hoster_opts ho = {.meta = m,
                                 .store = store,
                                 .data_dir = c.data_dir,
                                 .region = c.region,
                                 .max_instances = c.max_endpoint_instances,
                                 .bwrap = c.bwrap};
        rc = hoster_new(&ho, &hoster, &d);
    }
    if (!rc)
        rc = asyncq_new(m, store, hoster, &asyncq, &d);
    if (!rc)
        rc = transformer_new(m, store, hoster, c.data_dir, &transformer, &d);
    if (!rc)
        rc = processor_new(m, store, c.data_dir, c.region, c.bwrap, &processor,
                           &d);
    if (rc) {
        fprintf(stderr, "kiln server: %s\n", d.msg);
        goto out;
    }
    f.meta = m;
    f.region = c.region;
    f.s3.meta = m;
    f.s3.store = store;
    f.s3.region = c.region;
    f.s3.domain = c.s3_domain;
    f.jobs = *trainer_api(trainer);
    f.jobs.hosting = hoster;
    f.jobs.endpoint_create = hoster_endpoint_create;
    f.jobs.endpoint_update = hoster_endpoint_update;
    f.jobs.endpoint_delete = hoster_endpoint_delete;
    f.jobs.endpoint_room = hoster_endpoint_room;
    f.jobs.transforms = transformer;
    f.jobs.transform_start = transformer_start;
    f.jobs.transform_stop = transformer_stop;
    f.jobs.processing = processor;
    f.jobs.processing_start = processor_start;
    f.jobs.processing_stop = processor_stop;
    f.jobs.prices = prices;
    f.hoster = hoster;
    f.asyncq = asyncq;
    rc = tuner_new(m, &f.jobs, c.region, &tuner, &d);
    if (!rc)
        rc = monitors_new(m, store, &f.jobs, c.region, &monitors, &d);
    f.jobs.tuning = tuner;
    f.jobs.tuning_start = tuner_start;
    f.jobs.tuning_stop = tuner_stop;
    if (!rc)
        rc = scaler_new(m, &f.jobs, c.region, &scaler, &d);
    if (rc) {
        fprintf(stderr, "kiln server: %s\n", d.msg);
        goto out;
    }
    struct http_server_opts o = {
        .bind = c.bind,
        .port = (unsigned)c.port,
        .threads = (unsigned)c.threads, /* 0: a thread per connection */
        .handler = front_handle,
        .app = &f,
    };
    /* As many open files as the hard limit allows: each client connection
     * is one (see http/server.c). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rc = http_server_start(&o, &srv, &d);
    if (rc) {
        fprintf(stderr, "kiln server: %s\n", d.msg);
        goto out;
    }
    log_info("event=start version=%s data_dir=\"%s\" schema=%d threads=%u",
             KILN_VERSION, c.data_dir, meta_schema_version(m), o.threads);
    printf("kiln: ready on http://%s:%u (data in %s)\n", c.bind,
           http_server_port(srv), c.data_dir);
    fflush(stdout);

    sig = cmd_signals_wait();
    log_info("event=shutdown signal=%d", sig);
    status = 0;
out:
    http_server_stop(srv);
    scaler_free(scaler);
    monitors_free(monitors);
    tuner_free(tuner);
    trainer_free(trainer);
    asyncq_free(asyncq);
    transformer_free(transformer);
    processor_free(processor);
    hoster_free(hoster);
    objstore_close(store);
    meta_close(m);
    json_decref(prices);
    validate_cleanup();
    config_release(&c);
    cmd_signals_release();
    return status;
}
