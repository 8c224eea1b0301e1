/*
 * trainer.c - one thread per job; the thread owns the job's working tree
 * (<data-dir>/jobs/<account>/<name>/algo-N/ with the container layout),
 * its child process and its document until the job ends.
 *
 * The document is the single source of truth: every step updates it under
 * the job and saves it, so DescribeTrainingJob shows the progress. A
 * stop request only sets a flag; the job thread turns it into SIGTERM and,
 * after the grace period, SIGKILL.
 */
#include "cmd/trainer.h"

#include "cmd/cmd.h"
#include "cmd/inputs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "auth/sigv4.h"
#include "base/fsx.h"
#include "base/instances.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/strv.h"
#include "base/tm.h"
#include "formats/artifact.h"
#include "formats/manifest.h"
#include "jobs/hostspec.h"
#include "jobs/image.h"
#include "jobs/launch.h"
#include "jobs/metrics.h"
#include "jobs/proc.h"
#include "jobs/rsh.h"
#include "jobs/sandbox.h"
#include "jobs/toolkit.h"
#include "meta/meta.h"
#include "ml/rng.h"

#define LOG_GROUP    "/aws/sagemaker/TrainingJobs"
#define MAX_LOG_LINE (256 * 1024)
#define MODEL_MAX    ((uint64_t)64 << 30)
/* While a job runs, its checkpoints go to S3 this often (changed files). */
#define CHECKPOINT_SYNC_SECONDS 5.0

struct job {
    struct trainer *t;
    char account[13];
    char name[64];
    pthread_t thread;
    bool stop_requested;
    bool done;
    struct job *next;
};

struct trainer {
    struct trainer_opts o;
    char *jobs_dir;
    char exe[4096];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct job *jobs;
    int running;
    bool closing;
    struct api_jobs api;
};

/* ---- the job's document ------------------------------------------- */

struct run {
    struct job *job;
    struct trainer *t;
    json_t *doc;
    struct buf dir;    /* the job's working tree */
    double start, end; /* TrainingStartTime, TrainingEndTime */
    int hosts;
    json_t *metrics; /* name -> {Value, Timestamp} */
    struct metric_set *defs;
    long long stream_time; /* log streams: <job>/algo-<n>-<stream_time> */
    /* Cluster hosts without the server's files (cluster_url set): */
    bool fetch;             /* hosts fetch their trees by presigned URLs */
    struct meta_key key;    /* the account's key that signs them */
    json_t *specs;          /* one host spec per host */
    char stage_bucket[64];  /* where the specs and results are staged: */
    struct buf stage;       /* <output prefix>/<job>/ */
    struct feeder *feeders; /* Pipe-mode channels */
    bool script;            /* a framework estimator's entry point */
    struct image *image;    /* else a bring-your-own image, or NULL */
    struct image own_image; /* what image points to */
    char hosts_file[4096];  /* script mode, images: their /etc/hosts */
    int slot;               /* and their addresses' slot, or -1 */
    int netns;              /* the network an isolated job's instances
                               share, or -1 */
    int failed_host;        /* the instance that failed first (1-based) */
    json_t *synced;         /* checkpoints: rel -> "size:mtime" put last */
    double synced_at;       /* when the checkpoints were last put */
    struct buf *last;       /* script mode: each host's last line */
    struct buf *errors;     /* and its exceptions' lines, */
    struct buf *commands;   /* and the command it runs */
    bool mpi;               /* script mode with the toolkit's MPI: */
    char rsh_token[4096];   /* the job's token file, bound in */
    bool *follows;          /* hosts running kiln rshd, */
    size_t leader;          /* and the index of the one running mpirun */
    json_t *groups;         /* the instance groups as resourceconfig.json
                               lists them */
    int *host_group;        /* host h's group: groups[host_group[h-1]] */
    struct kiln_diag d;
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/*
 * The job's instance groups, as resourceconfig.json lists them:
 * {"instance_group_name", "instance_type", "hosts": ["algo-1", ...]},
 * ResourceConfig.InstanceGroups in order (hosts numbered across them),
 * or one "homogeneousCluster" of InstanceType. Sets r->hosts.
 */
static void plan_groups(struct run *r)
{
    json_t *res = json_object_get(r->doc, "ResourceConfig");
    json_t *asked = json_object_get(res, "InstanceGroups"), *g;
    size_t i;
    int h = 0;

    r->groups = json_array();
    if (!asked) {
        json_int_t n =
            json_integer_value(json_object_get(res, "InstanceCount"));
        asked = json_pack("[{s:s, s:s?, s:I}]", "InstanceGroupName",
                          "homogeneousCluster", "InstanceType",
                          jstr(res, "InstanceType"), "InstanceCount",
                          (json_int_t)(n < 1 ? 1 : n));
    } else {
        json_incref(asked);
    }
    json_array_foreach(asked, i, g)
    {
        json_int_t n = json_integer_value(json_object_get(g, "InstanceCount"));
        json_t *hosts = json_array();
        for (json_int_t k = 0; k < n; k++) {
            char name[32];
            snprintf(name, sizeof(name), "algo-%d", ++h);
            json_array_append_new(hosts, json_string(name));
        }
        json_array_append_new(
            r->groups, json_pack("{s:s?, s:s?, s:o}", "instance_group_name",
                                 jstr(g, "InstanceGroupName"), "instance_type",
                                 jstr(g, "InstanceType"), "hosts", hosts));
    }
    json_decref(asked);
    r->hosts = h > 0 ? h : 1;
    r->host_group = xcalloc((size_t)r->hosts, sizeof(*r->host_group));
    h = 0;
    json_array_foreach(r->groups, i, g)
    {
        for (size_t k = 0; k < json_array_size(json_object_get(g, "hosts"));
             k++)
            r->host_group[h++] = (int)i;
    }
}

static json_t *group_of(struct run *r, int host)
{
    return json_array_get(r->groups, (size_t)r->host_group[host - 1]);
}

/* Whether channel ch goes to algo-<host>: its S3DataSource's
 * InstanceGroupNames has the host's group, or names none. */
static bool channel_for(struct run *r, json_t *ch, int host)
{
    json_t *names = json_object_get(
        json_object_get(json_object_get(ch, "DataSource"), "S3DataSource"),
        "InstanceGroupNames");
    json_t *n;
    size_t i;
    if (!json_array_size(names))
        return true;
    json_array_foreach(names, i, n)
    {
        if (json_equal(
                n, json_object_get(group_of(r, host), "instance_group_name")))
            return true;
    }
    return false;
}

static void save(struct run *r)
{
    char *body = json_dumps(r->doc, JSON_COMPACT);
    json_t *end = json_object_get(r->doc, "TrainingEndTime");
    struct meta_training_row row = {
        .name = r->job->name,
        .status = jstr(r->doc, "TrainingJobStatus"),
        .secondary_status = jstr(r->doc, "SecondaryStatus"),
        .modified =
            json_number_value(json_object_get(r->doc, "LastModifiedTime")),
        .ended = end ? json_number_value(end) : 0,
    };
    if (meta_training_save(r->t->o.meta, r->job->account, &row, body) != 0)
        log_error("event=job_save_failed job=%s", r->job->name);
    mem_free(body);
}

/* Closes the last transition and opens `status` with `message`. */
static void step(struct run *r, const char *status, const char *message)
{
    double now = tm_now();
    json_t *tr = json_object_get(r->doc, "SecondaryStatusTransitions");
    json_t *last = json_array_get(tr, json_array_size(tr) - 1);
    if (last && !json_object_get(last, "EndTime"))
        json_object_set_new(last, "EndTime", json_real(now));
    json_t *t = json_object();
    json_object_set_new(t, "Status", json_string(status));
    json_object_set_new(t, "StartTime", json_real(now));
    json_object_set_new(t, "StatusMessage", json_string(message));
    json_array_append_new(tr, t);
    json_object_set_new(r->doc, "SecondaryStatus", json_string(status));
    json_object_set_new(r->doc, "LastModifiedTime", json_real(now));
    save(r);
    log_info("event=job_status job=%s status=%s", r->job->name, status);
}

static bool stop_requested(struct run *r)
{
    bool s;
    pthread_mutex_lock(&r->t->lock);
    s = r->job->stop_requested;
    pthread_mutex_unlock(&r->t->lock);
    return s;
}

static bool closing(struct trainer *t)
{
    bool c;
    pthread_mutex_lock(&t->lock);
    c = t->closing;
    pthread_mutex_unlock(&t->lock);
    return c;
}

#define SHUTDOWN_REASON                                                        \
    "InternalServerError: kiln server was shut down while the training job "   \
    "was running."

/* ---- channels ------------------------------------------------------- */

static int owned_bucket(struct run *r, const char *bucket)
{
    struct inputs_src src = {r->t->o.meta, r->t->o.store, r->job->account,
                             false};
    return inputs_owned_bucket(&src, bucket, &r->d);
}

/* The objects of one channel, in key order, with their relative names. */
static int channel_objects(struct run *r, json_t *ch, struct keylist *l,
                           char *bucket, size_t bsize)
{
    json_t *s3 =
        json_object_get(json_object_get(ch, "DataSource"), "S3DataSource");
    struct inputs_src src = {r->t->o.meta, r->t->o.store, r->job->account,
                             true};

    if (!s3 || !jstr(s3, "S3Uri"))
        return diag_set(&r->d, KILN_EINVAL,
                        "ClientError: channel '%s' has no S3DataSource; "
                        "kiln reads channels from S3.",
                        jstr(ch, "ChannelName"));
    return inputs_resolve(&src, s3, l, bucket, bsize, &r->d);
}

/* The job's place under S3OutputPath: its bucket, and "<prefix>/<job>/"
 * appended to out. */
static int output_prefix(struct run *r, char *bucket, size_t bsize,
                         struct buf *out)
{
    json_t *outcfg = json_object_get(r->doc, "OutputDataConfig");
    const char *uri = jstr(outcfg, "S3OutputPath");
    const char *prefix;

    if (objstore_uri_split(uri, bucket, bsize, &prefix) != 0)
        return diag_set(&r->d, KILN_EINVAL,
                        "ClientError: S3OutputPath '%s' is not an s3:// URI",
                        uri);
    if (owned_bucket(r, bucket) != 0)
        /* owned_bucket() says "ClientError: Data download failed: ..." */
        return diag_set(&r->d, KILN_EINVAL,
                        "ClientError: cannot upload the model: the bucket "
                        "'%s' of S3OutputPath does not exist or belongs to "
                        "another account.",
                        bucket);
    size_t n = strlen(prefix);
    while (n && prefix[n - 1] == '/')
        n--;
    buf_addf(out, "%.*s%s%s/", (int)n, prefix, n ? "/" : "", r->job->name);
    return 0;
}

/* ---- Pipe mode ---------------------------------------------------- */

/*
 * A Pipe-mode channel is a series of FIFOs <channel>_0, _1, ... that a
 * feeder thread fills with the channel's objects, concatenated; the next
 * FIFO appears when the algorithm has read the previous one to its end (or
 * closed it). The feeder stops when the job's process ends.
 */
struct feeder {
    struct trainer *t;
    char bucket[64];
    struct keylist keys; /* this host's objects */
    char base[1024];     /* ".../input/data/<channel>_" */
    bool gzip;           /* CompressionType Gzip: fed decompressed */
    bool shuffle;        /* ShuffleConfig: a new key order each epoch */
    uint64_t seed;
    bool stop;
    pthread_t thread;
    bool started;
    struct feeder *next;
};

static bool feeder_stopped(struct feeder *f)
{
    bool s;
    pthread_mutex_lock(&f->t->lock);
    s = f->stop;
    pthread_mutex_unlock(&f->t->lock);
    return s;
}

/* Copies `in` to fd, inflating gzip (members one after another, as
 * SageMaker's Pipe mode does for CompressionType Gzip) when z is set.
 * False when the reader went away; a damaged stream ends the object. */
static bool feed_object(int in, int fd, z_stream *z)
{
    char chunk[1 << 16], out[1 << 16];
    ssize_t n;
    while ((n = read(in, chunk, sizeof(chunk))) > 0) {
        if (!z) {
            if (!fsx_write_all(fd, chunk, (size_t)n))
                return false;
            continue;
        }
        z->next_in = (Bytef *)chunk;
        z->avail_in = (uInt)n;
        /* Until this input is used up and no output is left pending. */
        do {
            z->next_out = (Bytef *)out;
            z->avail_out = sizeof(out);
            int zr = inflate(z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                return true;
            if (!fsx_write_all(fd, out, sizeof(out) - z->avail_out))
                return false;
            if (zr == Z_STREAM_END)
                inflateReset(z); /* the next member, if any */
        } while (z->avail_out == 0 || z->avail_in > 0);
    }
    return true;
}

/* ShuffleConfig in Pipe mode: the objects in a new order at the start of
 * every epoch, the same orders for the same Seed (Fisher-Yates). */
static void shuffle_keys(struct keylist *l, uint64_t seed, unsigned epoch)
{
    struct rng r;
    rng_seed(&r, seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1)));
    for (size_t i = l->n; i > 1; i--) {
        size_t j = (size_t)rng_below(&r, i);
        char *k = l->keys[i - 1], *rel = l->rel[i - 1];
        l->keys[i - 1] = l->keys[j];
        l->rel[i - 1] = l->rel[j];
        l->keys[j] = k;
        l->rel[j] = rel;
    }
}

/* Streams every object into fd; false when the reader went away. */
static bool feed_epoch(struct feeder *f, int fd, unsigned epoch)
{
    bool reading = true;
    if (f->shuffle)
        shuffle_keys(&f->keys, f->seed, epoch);
    for (size_t i = 0; reading && i < f->keys.n; i++) {
        int in = -1;
        z_stream z = {0};
        if (objstore_open_object(f->t->o.store, f->bucket, f->keys.keys[i], &in,
                                 NULL) != 0)
            continue;
        log_debug("event=pipe_feed epoch=%u key=\"%.200s\"", epoch,
                  f->keys.keys[i]);
        if (f->gzip && inflateInit2(&z, 15 + 32) != Z_OK) {
            close(in);
            continue;
        }
        reading = feed_object(in, fd, f->gzip ? &z : NULL);
        if (f->gzip)
            inflateEnd(&z);
        close(in);
    }
    return reading;
}

static void *feeder_thread(void *arg)
{
    struct feeder *f = arg;
    for (unsigned epoch = 0; !feeder_stopped(f); epoch++) {
        char path[1100];
        int fd = -1;
        snprintf(path, sizeof(path), "%s%u", f->base, epoch);
        if (mkfifo(path, 0644) != 0 && errno != EEXIST)
            break;
        while (!feeder_stopped(f)) {
            fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0 || errno != ENXIO)
                break;
            usleep(2000); /* no reader yet */
        }
        if (fd < 0) {
            unlink(path);
            break;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        feed_epoch(f, fd, epoch);
        close(fd);
        unlink(path);
    }
    return NULL;
}

static void feeders_stop(struct run *r)
{
    pthread_mutex_lock(&r->t->lock);
    for (struct feeder *f = r->feeders; f; f = f->next)
        f->stop = true;
    pthread_mutex_unlock(&r->t->lock);
    while (r->feeders) {
        struct feeder *f = r->feeders;
        r->feeders = f->next;
        if (f->started)
            pthread_join(f->thread, NULL);
        keys_free(&f->keys);
        mem_free(f);
    }
}

static int write_json(const char *path, json_t *j, struct kiln_diag *d)
{
    if (json_dump_file(j, path, JSON_INDENT(2)) != 0)
        return diag_set(d, KILN_EIO, "cannot write %s", path);
    return 0;
}

/* ---- cluster hosts that fetch their own trees ------------------------ */

static int pick_key(void *ctx, const struct meta_key *k)
{
    struct run *r = ctx;
    if (strcmp(k->account, r->job->account) != 0)
        return 0;
    r->key = *k;
    return 1;
}

/* Lifetime of the hosts' URLs: the job's whole run, at most 7 days. */
static int64_t url_lifetime(struct run *r)
{
    double max = json_number_value(json_object_get(
        json_object_get(r->doc, "StoppingCondition"), "MaxRuntimeInSeconds"));
    int64_t s = (int64_t)max + 3600;
    return s < 3600 || s > SIGV4_MAX_EXPIRES_SECONDS ? SIGV4_MAX_EXPIRES_SECONDS
                                                     : s;
}

/* A presigned URL of bucket/key on the server as the hosts see it. */
static int presign(struct run *r, const char *method, const char *bucket,
                   const char *key, struct buf *url)
{
    struct buf path = BUF_INIT(64 * 1024);
    buf_addf(&path, "/%s/", bucket);
    sigv4_uri_encode(key, strlen(key), true, &path);
    struct sigv4_presign_req p = {.method = method,
                                  .base = r->t->o.cluster_url,
                                  .path = buf_cstr(&path),
                                  .akid = r->key.akid,
                                  .secret = r->key.secret,
                                  .region = r->t->o.region,
                                  .service = "s3",
                                  .now = (int64_t)time(NULL),
                                  .expires = url_lifetime(r)};
    int rc = sigv4_presign(&p, url, &r->d);
    buf_release(&path);
    return rc;
}

/* Adds object bucket/key as <channel>/<rel> of host h's spec. */
static int spec_add(struct run *r, int h, const char *channel, const char *rel,
                    const char *bucket, const char *key)
{
    struct buf url = BUF_INIT(64 * 1024);
    json_t *spec = json_array_get(r->specs, (size_t)h - 1);
    json_t *chans = json_object_get(spec, "channels");
    int rc;

    if (!json_object_get(chans, channel))
        json_object_set_new(chans, channel, json_array());
    rc = presign(r, "GET", bucket, key, &url);
    if (!rc) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(rel));
        json_object_set_new(o, "url", json_string(buf_cstr(&url)));
        json_array_append_new(json_object_get(chans, channel), o);
    }
    buf_release(&url);
    return rc;
}

/* Starts fetch mode: the signing key, the staging place, empty specs. */
static int fetch_begin(struct run *r)
{
    r->specs = json_array();
    for (int h = 1; h <= r->hosts; h++) {
        json_t *spec = json_object();
        json_object_set_new(spec, "channels", json_object());
        json_array_append_new(r->specs, spec);
    }
    meta_key_each(r->t->o.meta, pick_key, r);
    if (!r->key.akid[0])
        return diag_set(&r->d, KILN_EINVAL,
                        "ClientError: the account has no access key to sign "
                        "the cluster hosts' downloads with.");
    return output_prefix(r, r->stage_bucket, sizeof(r->stage_bucket),
                         &r->stage);
}

/* Stages every host's spec and puts the URL of each in rank_env. */
static int fetch_publish(struct run *r, struct strv *rank_env)
{
    static const char *const files[] = {"resourceconfig", "hyperparameters",
                                        "inputdataconfig"};
    static const struct {
        const char *member, *name;
        bool first_only;
    } sends[] = {{"failure_url", "failure", false},
                 {"model_url", "model.tar.gz", true},
                 {"output_url", "output.tar.gz", true}};
    struct buf p = BUF_INIT(64 * 1024), key = BUF_INIT(64 * 1024),
               url = BUF_INIT(64 * 1024);
    int rc = 0;

    for (int h = 1; !rc && h <= r->hosts; h++) {
        json_t *spec = json_array_get(r->specs, (size_t)h - 1);
        for (size_t i = 0; i < KILN_ARRAY_LEN(files); i++) {
            buf_reset(&p);
            buf_addf(&p, "%s/algo-%d/input/config/%s.json", buf_cstr(&r->dir),
                     h, files[i]);
            json_object_set_new(spec, files[i],
                                json_load_file(buf_cstr(&p), 0, NULL));
        }
        for (size_t i = 0; !rc && i < KILN_ARRAY_LEN(sends); i++) {
            if (sends[i].first_only && h > 1)
                continue;
            buf_reset(&key);
            buf_reset(&url);
            hostspec_staging_key(buf_cstr(&r->stage), h, sends[i].name, &key);
            rc = presign(r, "PUT", r->stage_bucket, buf_cstr(&key), &url);
            json_object_set_new(spec, sends[i].member,
                                json_string(buf_cstr(&url)));
        }
        buf_reset(&p);
        buf_addf(&p, "%s/algo-%d/spec.json", buf_cstr(&r->dir), h);
        buf_reset(&key);
        hostspec_staging_key(buf_cstr(&r->stage), h, "spec.json", &key);
        if (!rc)
            rc = write_json(buf_cstr(&p), spec, &r->d);
        if (!rc)
            rc = objstore_put_path(r->t->o.store, r->stage_bucket,
                                   buf_cstr(&key), buf_cstr(&p),
                                   "application/json", &r->d);
        buf_reset(&url);
        if (!rc)
            rc = presign(r, "GET", r->stage_bucket, buf_cstr(&key), &url);
        if (!rc)
            strv_addf(rank_env, "KILN_HOST_SPEC=%s", buf_cstr(&url));
    }
    buf_release(&p);
    buf_release(&key);
    buf_release(&url);
    return rc;
}

/* Brings what the hosts sent back into the job's tree, as if they had
 * written it there: failure files, then the first host's model and
 * output data. */
static void fetch_collect(struct run *r)
{
    static const char *const tgz[][2] = {{"model.tar.gz", "model"},
                                         {"output.tar.gz", "output/data"}};
    struct buf key = BUF_INIT(64 * 1024), dest = BUF_INIT(64 * 1024);
    struct kiln_diag d = {0};

    for (int h = 1; h <= r->hosts; h++) {
        buf_reset(&key);
        buf_reset(&dest);
        hostspec_staging_key(buf_cstr(&r->stage), h, "failure", &key);
        buf_addf(&dest, "%s/algo-%d/output/failure", buf_cstr(&r->dir), h);
        objstore_link_object(r->t->o.store, r->stage_bucket, buf_cstr(&key),
                             buf_cstr(&dest), &d);
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(tgz); i++) {
        buf_reset(&key);
        buf_reset(&dest);
        hostspec_staging_key(buf_cstr(&r->stage), 1, tgz[i][0], &key);
        buf_addf(&dest, "%s/%s", buf_cstr(&r->dir), tgz[i][0]);
        if (objstore_link_object(r->t->o.store, r->stage_bucket, buf_cstr(&key),
                                 buf_cstr(&dest), &d) != 0)
            continue;
        struct buf into = BUF_INIT(8192);
        buf_addf(&into, "%s/algo-1/%s", buf_cstr(&r->dir), tgz[i][1]);
        if (artifact_extract(buf_cstr(&dest), buf_cstr(&into), MODEL_MAX, &d) !=
            0)
            log_warn("event=host_result_unreadable job=%s file=%s",
                     r->job->name, tgz[i][0]);
        unlink(buf_cstr(&dest));
        buf_release(&into);
    }
    buf_release(&key);
    buf_release(&dest);
}

/* Removes everything staged for the hosts. */
static void fetch_cleanup(struct run *r)
{
    static const char *const names[] = {"spec.json", "failure", "model.tar.gz",
                                        "output.tar.gz"};
    struct buf key = BUF_INIT(64 * 1024);
    for (int h = 1; r->stage_bucket[0] && h <= r->hosts; h++)
        for (size_t i = 0; i < KILN_ARRAY_LEN(names); i++) {
            buf_reset(&key);
            hostspec_staging_key(buf_cstr(&r->stage), h, names[i], &key);
            objstore_delete_object(r->t->o.store, r->stage_bucket,
                                   buf_cstr(&key));
        }
    buf_release(&key);
}

/* Links the channel's objects into every host's data/<channel>/. */
static int download(struct run *r)
{
    json_t *chans = json_object_get(r->doc, "InputDataConfig");
    size_t i;
    json_t *ch;
    int rc = 0;

    json_array_foreach(chans, i, ch)
    {
        struct keylist l = {0};
        char bucket[64];
        const char *name = jstr(ch, "ChannelName");
        json_t *src =
            json_object_get(json_object_get(ch, "DataSource"), "S3DataSource");
        const char *dist = jstr(src, "S3DataDistributionType");
        bool sharded = dist && strcmp(dist, "ShardedByS3Key") == 0;
        int takers = 0; /* the hosts that get the channel */
        for (int h = 1; h <= r->hosts; h++)
            takers += channel_for(r, ch, h);

        const char *mode =
            jstr(ch, "InputMode")
                ? jstr(ch, "InputMode")
                : jstr(json_object_get(r->doc, "AlgorithmSpecification"),
                       "TrainingInputMode");
        rc = channel_objects(r, ch, &l, bucket, sizeof(bucket));
        if (!rc && r->fetch && strcmp(mode, "Pipe") == 0)
            rc = diag_set(&r->d, KILN_EINVAL,
                          "ClientError: Pipe input mode needs the hosts to "
                          "share kiln's file system; with cluster-url set, "
                          "use File mode.");
        if (!rc && strcmp(mode, "Pipe") == 0) {
            for (int h = 1, rank = 0; h <= r->hosts; h++) {
                if (!channel_for(r, ch, h))
                    continue;
                struct feeder *f = xcalloc(1, sizeof(*f));
                f->t = r->t;
                str_copy(f->bucket, bucket, sizeof(f->bucket));
                f->gzip = jstr(ch, "CompressionType") &&
                          strcmp(jstr(ch, "CompressionType"), "Gzip") == 0;
                json_t *shuffle = json_object_get(ch, "ShuffleConfig");
                f->shuffle = shuffle != NULL;
                f->seed = (uint64_t)json_integer_value(
                    json_object_get(shuffle, "Seed"));
                for (size_t j = 0; j < l.n; j++)
                    if (!sharded || launch_shard_host(j, l.n, takers) == rank)
                        keys_add(&f->keys, l.keys[j], l.rel[j]);
                rank++;
                snprintf(f->base, sizeof(f->base), "%s/algo-%d/input/data/%s_",
                         buf_cstr(&r->dir), h, name);
                f->next = r->feeders;
                r->feeders = f;
                f->started =
                    pthread_create(&f->thread, NULL, feeder_thread, f) == 0;
            }
            keys_free(&l);
            continue;
        }
        for (int h = 1, rank = -1; !rc && h <= r->hosts; h++) {
            if (!channel_for(r, ch, h))
                continue;
            rank++;
            for (size_t j = 0; !rc && j < l.n; j++) {
                if (sharded && launch_shard_host(j, l.n, takers) != rank)
                    continue;
                struct buf dest = BUF_INIT(8192);
                if (!fsx_safe_relpath(l.rel[j])) {
                    rc = diag_set(&r->d, KILN_EINVAL,
                                  "ClientError: the object key '%s' cannot "
                                  "be a file name",
                                  l.keys[j]);
                    buf_release(&dest);
                    break;
                }
                if (r->fetch) {
                    rc = spec_add(r, h, name, l.rel[j], bucket, l.keys[j]);
                    buf_release(&dest);
                    continue;
                }
                buf_addf(&dest, "%s/algo-%d/input/data/%s/%s",
                         buf_cstr(&r->dir), h, name, l.rel[j]);
                fsx_make_parents(dest.data, r->dir.len);
                rc = objstore_link_object(r->t->o.store, bucket, l.keys[j],
                                          buf_cstr(&dest), &r->d);
                if (rc)
                    rc = diag_wrap(&r->d, KILN_EINVAL,
                                   "ClientError: Data download failed: ");
                buf_release(&dest);
            }
        }
        keys_free(&l);
        if (rc)
            break;
    }
    return rc;
}

/* ---- the working tree ----------------------------------------------- */

static int prepare_tree(struct run *r)
{
    json_t *hosts = json_array(), *inputs = json_object();
    const char *mode = jstr(json_object_get(r->doc, "AlgorithmSpecification"),
                            "TrainingInputMode");
    size_t i;
    json_t *ch;
    int rc = 0;

    for (int h = 1; h <= r->hosts; h++) {
        char name[32];
        snprintf(name, sizeof(name), "algo-%d", h);
        json_array_append_new(hosts, json_string(name));
    }
    json_array_foreach(json_object_get(r->doc, "InputDataConfig"), i, ch)
    {
        json_t *src =
            json_object_get(json_object_get(ch, "DataSource"), "S3DataSource");
        json_t *e = json_object();
        const char *m = jstr(ch, "InputMode") ? jstr(ch, "InputMode") : mode;
        if (jstr(ch, "ContentType"))
            json_object_set_new(e, "ContentType",
                                json_string(jstr(ch, "ContentType")));
        json_object_set_new(e, "TrainingInputMode",
                            json_string(strcmp(m, "FastFile") ? m : "File"));
        json_object_set_new(
            e, "S3DistributionType",
            json_string(jstr(src, "S3DataDistributionType")
                            ? jstr(src, "S3DataDistributionType")
                            : "FullyReplicated"));
        json_object_set_new(e, "RecordWrapperType",
                            json_string(jstr(ch, "RecordWrapperType")
                                            ? jstr(ch, "RecordWrapperType")
                                            : "None"));
        if (jstr(ch, "CompressionType"))
            json_object_set_new(e, "CompressionType",
                                json_string(jstr(ch, "CompressionType")));
        json_object_set_new(inputs, jstr(ch, "ChannelName"), e);
    }
    for (int h = 1; !rc && h <= r->hosts; h++) {
        json_t *group = group_of(r, h), *mine = json_object();
        static const char *const subs[] = {
            "",       "/input",  "/input/config", "/input/data",
            "/model", "/output", "/output/data"};
        struct buf p = BUF_INIT(8192);
        json_t *rcfg = json_object();
        char host[32];
        snprintf(host, sizeof(host), "algo-%d", h);
        for (size_t k = 0; k < KILN_ARRAY_LEN(subs); k++) {
            buf_reset(&p);
            buf_addf(&p, "%s/%s%s", buf_cstr(&r->dir), host, subs[k]);
            mkdir(buf_cstr(&p), 0755);
        }
        json_t *ich = json_object_get(r->doc, "InputDataConfig");
        json_array_foreach(ich, i, ch)
        {
            if (!channel_for(r, ch, h))
                continue;
            json_object_set(mine, jstr(ch, "ChannelName"),
                            json_object_get(inputs, jstr(ch, "ChannelName")));
            buf_reset(&p);
            buf_addf(&p, "%s/%s/input/data/%s", buf_cstr(&r->dir), host,
                     jstr(ch, "ChannelName"));
            mkdir(buf_cstr(&p), 0755);
        }
        json_object_set_new(rcfg, "current_host", json_string(host));
        json_object_set(rcfg, "current_instance_type",
                        json_object_get(group, "instance_type"));
        json_object_set(rcfg, "current_group_name",
                        json_object_get(group, "instance_group_name"));
        json_object_set(rcfg, "hosts", hosts);
        json_object_set(rcfg, "instance_groups", r->groups);
        /* The instances reach each other on the loopback device. */
        json_object_set_new(rcfg, "network_interface_name", json_string("lo"));
        buf_reset(&p);
        buf_addf(&p, "%s/%s/input/config/resourceconfig.json",
                 buf_cstr(&r->dir), host);
        rc = write_json(buf_cstr(&p), rcfg, &r->d);
        buf_reset(&p);
        buf_addf(&p, "%s/%s/input/config/hyperparameters.json",
                 buf_cstr(&r->dir), host);
        if (!rc)
            rc = write_json(buf_cstr(&p),
                            json_object_get(r->doc, "HyperParameters"), &r->d);
        buf_reset(&p);
        buf_addf(&p, "%s/%s/input/config/inputdataconfig.json",
                 buf_cstr(&r->dir), host);
        if (!rc)
            rc = write_json(buf_cstr(&p), mine, &r->d);
        json_decref(rcfg);
        json_decref(mine);
        buf_release(&p);
    }
    json_decref(hosts);
    json_decref(inputs);
    return rc;
}

/* ---- the algorithm process ------------------------------------------ */

static void on_metric(void *ctx, const char *name, double value)
{
    struct run *r = ctx;
    meta_metric_add(r->t->o.meta, jstr(r->doc, "TrainingJobArn"), name,
                    tm_now(), value);
    json_t *m = json_object();
    json_object_set_new(m, "MetricName", json_string(name));
    json_object_set_new(m, "Value", json_real(value));
    json_object_set_new(m, "Timestamp", json_real(tm_now()));
    json_object_set_new(r->metrics, name, m);
}

/* Appends a line of the output of algo-<host> to its log stream. Host 0:
 * the built-in's; with several hosts, mpirun tags each rank's lines; its
 * own untagged messages go to algo-1's stream. */
static void log_line(struct run *r, int host, const char *line, size_t len)
{
    char stream[256];
    if (host < 1 || host > r->hosts) {
        size_t skip = 0;
        int rank = r->hosts > 1 ? launch_tag_rank(line, len, &skip) : -1;
        host = 1;
        if (rank >= 0 && rank < r->hosts) {
            host = rank + 1;
            line += skip;
            len -= skip;
        }
    }
    snprintf(stream, sizeof(stream), "%s/algo-%d-%lld", r->job->name, host,
             r->stream_time);
    char *text = xstrndup(line, len);
    if (r->script && strspn(text, " \t\r") < len) {
        struct buf *errors = &r->errors[host - 1];
        buf_reset(&r->last[host - 1]);
        buf_add(&r->last[host - 1], text, len < 1024 ? len : 1024);
        /* The toolkit's ErrorMessage: the exceptions' lines, in order. */
        if (toolkit_error_line(text, len)) {
            if (errors->len + len >= 1024)
                buf_reset(errors);
            if (errors->len)
                buf_addc(errors, '\n');
            buf_add(errors, text, len < 1024 ? len : 1024);
        }
    }
    meta_log_append(r->t->o.meta, r->job->account, LOG_GROUP, stream,
                    (int64_t)(tm_now() * 1000), text);
    metric_set_match(r->defs, text, strlen(text), on_metric, r);
    mem_free(text);
}

static void log_host(struct run *r, int host, const char *text)
{
    log_line(r, host, text, strlen(text));
}

/* ---- checkpoints ------------------------------------------------------ */

/* CheckpointConfig's LocalPath (default /opt/ml/checkpoints) on the host,
 * in algo-<host>'s tree: false when it is not a path under /opt/ml. */
static bool checkpoint_dir(struct run *r, int host, struct buf *out)
{
    json_t *cc = json_object_get(r->doc, "CheckpointConfig");
    const char *local = jstr(cc, "LocalPath");

    if (!local)
        local = SANDBOX_ROOT "/checkpoints";
    if (!str_starts(local, SANDBOX_ROOT "/") ||
        !fsx_safe_relpath(local + strlen(SANDBOX_ROOT "/")))
        return false;
    buf_reset(out);
    buf_addf(out, "%s/algo-%d/%s", buf_cstr(&r->dir), host,
             local + strlen(SANDBOX_ROOT "/"));
    return true;
}

/* A checkpoint file's size and modification time, to tell a change. */
static void stamp(const char *file, char *out, size_t size)
{
    struct stat st;
    if (stat(file, &st) != 0)
        memset(&st, 0, sizeof(st));
    snprintf(out, size, "%lld:%lld.%09ld", (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
}

/* One host's checkpoint files, for the filters below. */
struct ckpt {
    struct run *r;
    int host;
};

/* inputs_upload_dir's filter: the files changed since they were put
 * (r->synced: "<host>/<rel>" -> stamp). */
static bool checkpoint_changed(void *ctx, const char *file, const char *rel)
{
    struct ckpt *c = ctx;
    char now[96], key[4200];
    stamp(file, now, sizeof(now));
    snprintf(key, sizeof(key), "%d/%s", c->host, rel);
    const char *was = json_string_value(json_object_get(c->r->synced, key));
    if (was && strcmp(was, now) == 0)
        return false;
    json_object_set_new(c->r->synced, key, json_string(now));
    return true;
}

static void checkpoint_seen(void *ctx, const char *file, const char *rel)
{
    checkpoint_changed(ctx, file, rel);
}

/* Before training: what an earlier job left under CheckpointConfig's
 * S3Uri, copied to its LocalPath on every instance, as SageMaker restores
 * a spot job. */
static int checkpoints_restore(struct run *r)
{
    json_t *cc = json_object_get(r->doc, "CheckpointConfig");
    struct inputs_src src = {r->t->o.meta, r->t->o.store, r->job->account,
                             true};
    struct buf dir = BUF_INIT(8192);
    size_t files = 0;
    int rc = 0;

    if (!cc)
        return 0;
    if (r->fetch)
        rc = diag_set(&r->d, KILN_EINVAL,
                      "ClientError: kiln keeps checkpoints (CheckpointConfig) "
                      "of jobs on its own machine only, not on a cluster's "
                      "hosts.");
    else if (!checkpoint_dir(r, 1, &dir))
        rc = diag_set(&r->d, KILN_EINVAL,
                      "ClientError: CheckpointConfig.LocalPath must be a "
                      "path under /opt/ml/, not '%s'.",
                      jstr(cc, "LocalPath"));
    r->synced = rc ? NULL : json_object();
    for (int h = 1; !rc && h <= r->hosts; h++) {
        struct ckpt c = {r, h};
        checkpoint_dir(r, h, &dir);
        buf_addc(&dir, '/');
        fsx_make_parents(dir.data, r->dir.len);
        files = 0;
        rc = inputs_copy_prefix(&src, jstr(cc, "S3Uri"), buf_cstr(&dir), &files,
                                &r->d);
        /* What was restored is in S3 already. */
        if (!rc)
            fsx_walk(buf_cstr(&dir), checkpoint_seen, &c);
    }
    r->synced_at = tm_now();
    if (!rc && files) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "Restored %zu checkpoint file(s) from CheckpointConfig's "
                 "S3Uri",
                 files);
        for (int h = 1; h <= r->hosts; h++)
            log_host(r, h, msg);
    }
    buf_release(&dir);
    return rc;
}

/* Every instance's new and changed LocalPath files put under S3Uri (one
 * prefix for all, as on SageMaker, where instances keep their file names
 * apart): while the job runs (every CHECKPOINT_SYNC_SECONDS), and after
 * it, whatever its end, as SageMaker keeps them in sync. */
static int checkpoints_save(struct run *r, struct kiln_diag *d)
{
    json_t *cc = json_object_get(r->doc, "CheckpointConfig");
    struct inputs_src src = {r->t->o.meta, r->t->o.store, r->job->account,
                             false};
    struct buf dir = BUF_INIT(8192);
    int rc = 0;

    r->synced_at = tm_now();
    for (int h = 1; cc && !r->fetch && !rc && h <= r->hosts; h++) {
        struct ckpt c = {r, h};
        if (!checkpoint_dir(r, h, &dir))
            break;
        if (!r->synced)
            r->synced = json_object();
        rc = inputs_upload_dir(&src, buf_cstr(&dir), jstr(cc, "S3Uri"),
                               checkpoint_changed, &c, NULL, d);
        if (rc)
            json_object_clear(r->synced); /* all again next time */
    }
    buf_release(&dir);
    return rc;
}

/* Why the job's process must stop now: "Interrupted" (kiln stops),
 * "Stopped" or "MaxRuntimeExceeded"; NULL while it may run. */
static const char *must_stop(void *ctx)
{
    struct run *r = ctx;
    double max_runtime = json_number_value(json_object_get(
        json_object_get(r->doc, "StoppingCondition"), "MaxRuntimeInSeconds"));
    if (closing(r->t))
        return "Interrupted";
    if (stop_requested(r)) {
        step(r, "Stopping", "Stopping the training job");
        return "Stopped";
    }
    if (max_runtime > 0 && tm_now() - r->start > max_runtime)
        return "MaxRuntimeExceeded";
    if (r->synced && tm_now() - r->synced_at > CHECKPOINT_SYNC_SECONDS) {
        struct kiln_diag ignored = {0}; /* the final save reports */
        checkpoints_save(r, &ignored);
    }
    return NULL;
}

/* Child i is the built-in (or its mpirun), or instance algo-<i+1>. */
static void on_line(void *ctx, size_t child, const char *line, size_t len)
{
    struct run *r = ctx;
    log_line(r, r->script || r->image ? (int)child + 1 : 0, line, len);
}

/* Streams the n children's output into the log until EOF, enforcing
 * stops and the runtime limit. Sets *why to "Stopped"/
 * "MaxRuntimeExceeded"/NULL. The first instance to fail stops the
 * others; its index goes to *failed (else n). */
static void pump(struct run *r, struct proc *ps, size_t n, size_t *failed,
                 const char **why)
{
    struct proc_pump o = {.max_line = MAX_LOG_LINE,
                          .grace = r->t->o.stop_grace_seconds,
                          .check = must_stop,
                          .line = on_line,
                          .ctx = r,
                          .fail_together = true,
                          .first_failure = failed,
                          .followers = r->follows,
                          .leader = r->leader};
    proc_pump(ps, n, &o, why);
}

/* The environment of every host's algorithm process, except its own
 * SM_*_DIR paths. */
static void job_env(struct run *r, int threads, struct strv *env)
{
    const char *k;
    json_t *v;

    strv_addf(env, "TRAINING_JOB_NAME=%s", r->job->name);
    strv_addf(env, "TRAINING_JOB_ARN=%s", jstr(r->doc, "TrainingJobArn"));
    /* The built-ins run their own threads (OpenMP), one sgemm on each:
     * BLAS threads of their own would only spin beside them. */
    strv_addf(env, "OPENBLAS_NUM_THREADS=%d", 1);
    strv_addf(env, "OMP_NUM_THREADS=%d", threads);
    /* Idle OpenMP threads sleep rather than spin: jobs share the cores
     * with each other and with the server. */
    strv_addf(env, "OMP_WAIT_POLICY=%s", "PASSIVE");
    strv_addf(env, "AWS_REGION=%s", r->t->o.region);
    strv_addf(env, "PATH=%s", "/usr/local/bin:/usr/bin:/bin");
    json_object_foreach(json_object_get(r->doc, "Environment"), k, v)
        strv_addf(env, "%s=%s", k, json_string_value(v));
}

/* ---- script mode ---------------------------------------------------- */

/* Puts the submit directory (sagemaker_submit_directory, the SDK's
 * sourcedir.tar.gz in the job's account) at every host's code/, as the
 * training toolkit does before it runs the entry point. */
static int fetch_code(struct run *r)
{
    json_t *hps = json_object_get(r->doc, "HyperParameters");
    char *uri = toolkit_param(hps, "sagemaker_submit_directory");
    struct buf code = BUF_INIT(8192), tgz = BUF_INIT(8192);
    char bucket[64];
    const char *key = NULL;
    int rc = 0;

    buf_addf(&tgz, "%s/sourcedir.tar.gz", buf_cstr(&r->dir));
    for (int h = 1; h <= r->hosts; h++) {
        buf_reset(&code);
        buf_addf(&code, "%s/algo-%d/code", buf_cstr(&r->dir), h);
        mkdir(buf_cstr(&code), 0755);
    }
    if (!uri)
        goto out; /* the entry point must then be in the image: it fails */
    if (objstore_uri_split(uri, bucket, sizeof(bucket), &key) != 0 || !*key) {
        rc = diag_set(&r->d, KILN_EINVAL,
                      "ClientError: sagemaker_submit_directory must be an "
                      "s3:// URI of a .tar.gz, not '%s'",
                      uri);
        goto out;
    }
    rc = owned_bucket(r, bucket);
    if (!rc)
        rc = objstore_link_object(r->t->o.store, bucket, key, buf_cstr(&tgz),
                                  &r->d);
    for (int h = 1; !rc && h <= r->hosts; h++) {
        buf_reset(&code);
        buf_addf(&code, "%s/algo-%d/code", buf_cstr(&r->dir), h);
        rc =
            artifact_extract(buf_cstr(&tgz), buf_cstr(&code), MODEL_MAX, &r->d);
    }
    unlink(buf_cstr(&tgz));
    if (rc) {
        struct buf prefix = BUF_INIT(8192);
        buf_addf(&prefix,
                 "ClientError: cannot install the source directory %s: ", uri);
        rc = diag_wrap(&r->d, KILN_EINVAL, buf_cstr(&prefix));
        buf_release(&prefix);
    }
out:
    buf_release(&code);
    buf_release(&tgz);
    mem_free(uri);
    return rc;
}

static json_t *config_file(struct run *r, int host, const char *name)
{
    struct buf p = BUF_INIT(8192);
    buf_addf(&p, "%s/algo-%d/input/config/%s", buf_cstr(&r->dir), host, name);
    json_t *j = json_load_file(buf_cstr(&p), 0, NULL);
    buf_release(&p);
    return j ? j : json_object();
}

/* The entry point on algo-<host>, under bubblewrap, with the toolkit's
 * environment. */
static int script_command(struct run *r, int host, int threads,
                          struct strv *argv, struct strv *env)
{
    static const char *const read_only[] = {"input", NULL};
    json_t *isolated = json_object_get(r->doc, "EnableNetworkIsolation");
    struct toolkit_job j = {
        .hyperparameters = json_object_get(r->doc, "HyperParameters"),
        .resource_config = config_file(r, host, "resourceconfig.json"),
        .input_data_config = config_file(r, host, "inputdataconfig.json"),
        .job_name = r->job->name,
        .python = r->t->o.python,
        .cpus = threads,
        /* The toolkit's 7777 where the job has a network of its own; on
         * this machine's, which jobs share, one port per address slot. */
        .master_port =
            json_is_true(isolated) || r->slot < 0 ? 7777 : 7777 + r->slot,
    };
    struct strv cmd = STRV_INIT;
    struct buf tree = BUF_INIT(8192), line = BUF_INIT(64 * 1024);
    char **bwrap_argv = NULL, hostname[32];
    int rc;

    /* MPI: kiln rsh and its token, and the CPUs' topology for hwloc. */
    const char *const mpi_binds[] = {"ro",
                                     r->t->exe,
                                     RSH_KILN,
                                     "ro",
                                     r->rsh_token,
                                     RSH_TOKEN_FILE,
                                     "ro",
                                     "/sys/devices/system",
                                     "/sys/devices/system",
                                     NULL};
    snprintf(hostname, sizeof(hostname), "algo-%d", host);
    rc = toolkit_command(&j, &cmd, env, &r->d);
    if (!rc && r->mpi && r->follows) {
        r->follows[host - 1] = strcmp(cmd.items[0], RSH_KILN) == 0;
        if (strcmp(cmd.items[0], "mpirun") == 0)
            r->leader = (size_t)host - 1;
    }
    if (!rc && access(r->t->o.bwrap, X_OK) != 0)
        rc = diag_set(&r->d, KILN_EIO,
                      "InternalServerError: script mode needs bubblewrap "
                      "at %s (apt-get install bubblewrap)",
                      r->t->o.bwrap);
    if (!rc) {
        buf_addf(&tree, "%s/%s", buf_cstr(&r->dir), hostname);
        struct sandbox_plan plan = {
            .bwrap = r->t->o.bwrap,
            .tree = buf_cstr(&tree),
            .read_only = read_only,
            .hostname = hostname,
            .hosts_file = r->hosts_file[0] ? r->hosts_file : NULL,
            .chdir = SANDBOX_ROOT "/code",
            .network = !json_is_true(isolated) || r->netns >= 0,
            .binds = r->mpi ? mpi_binds : NULL,
            .cmd = strv_argv(&cmd),
        };
        rc = sandbox_argv(&plan, &bwrap_argv);
        if (rc)
            diag_set(&r->d, rc, "cannot build the sandbox's command");
    }
    if (!rc) {
        strv_addv(argv, (const char *const *)bwrap_argv);
        job_env(r, threads, env);
        strv_add(env, "HOME=/tmp");
        /* The toolkit tells the command before it runs it. */
        for (size_t i = 0; i < cmd.n; i++)
            buf_addf(&line, "%s%s", i ? " " : "", cmd.items[i]);
        log_host(r, host, "Invoking script with the following command:");
        log_host(r, host, buf_cstr(&line));
        buf_reset(&r->commands[host - 1]);
        buf_add(&r->commands[host - 1], line.data,
                line.len < 1024 ? line.len : 1024);
        buf_adds(&tree, "/code/requirements.txt");
        if (access(buf_cstr(&tree), F_OK) == 0)
            log_host(r, host,
                     "requirements.txt is not installed: kiln runs the "
                     "entry point with the packages of this machine's "
                     "Python");
    }
    launch_argv_free(bwrap_argv);
    strv_release(&cmd);
    json_decref(j.resource_config);
    json_decref(j.input_data_config);
    buf_release(&tree);
    buf_release(&line);
    return rc;
}

static bool env_has(const struct strv *env, const char *name, size_t n)
{
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->items[i], name, n) == 0 && env->items[i][n] == '=')
            return true;
    return false;
}

/*
 * A bring-your-own image as SageMaker runs it, `docker run <image> train`:
 * its ENTRYPOINT with the argument "train", or "train" looked up in its
 * PATH (AlgorithmSpecification's ContainerEntrypoint and
 * ContainerArguments replace them), in the image's root file system with
 * the job's /opt/ml. The image's Env, then the job's variables over it
 * (but not over the image's PATH unless the request's Environment sets
 * it).
 */
static int image_command(struct run *r, int host, int threads,
                         struct strv *argv, struct strv *env)
{
    static const char *const read_only[] = {"input", NULL};
    json_t *algo = json_object_get(r->doc, "AlgorithmSpecification");
    json_t *cfg = r->image->config;
    json_t *user = json_object_get(r->doc, "Environment");
    json_t *entry = json_object_get(algo, "ContainerEntrypoint");
    json_t *args = json_object_get(algo, "ContainerArguments");
    struct strv cmd = STRV_INIT, mine = STRV_INIT;
    struct buf tree = BUF_INIT(8192);
    const char *dir = json_string_value(json_object_get(cfg, "WorkingDir"));
    char **bwrap_argv = NULL, hostname[32];
    size_t i;
    json_t *x;
    int rc;

    if (!entry)
        entry = json_object_get(cfg, "Entrypoint");
    json_array_foreach(entry, i, x) strv_add(&cmd, json_string_value(x));
    if (args) {
        json_array_foreach(args, i, x) strv_add(&cmd, json_string_value(x));
    } else {
        strv_add(&cmd, "train");
    }
    strv_add(env, "HOME=/root");
    json_array_foreach(json_object_get(cfg, "Env"), i, x)
    {
        if (json_is_string(x) && strchr(json_string_value(x), '='))
            strv_setenv(env, json_string_value(x));
    }
    job_env(r, threads, &mine);
    for (i = 0; i < mine.n; i++) {
        bool path = str_starts(mine.items[i], "PATH=");
        if (!path || json_object_get(user, "PATH") || !env_has(env, "PATH", 4))
            strv_setenv(env, mine.items[i]);
    }
    snprintf(hostname, sizeof(hostname), "algo-%d", host);
    buf_addf(&tree, "%s/%s", buf_cstr(&r->dir), hostname);
    struct sandbox_plan plan = {
        .bwrap = r->t->o.bwrap,
        .rootfs = buf_cstr(&r->image->rootfs),
        .tree = buf_cstr(&tree),
        .read_only = read_only,
        .hostname = hostname,
        .hosts_file = r->hosts_file[0] ? r->hosts_file : NULL,
        .chdir = dir && *dir ? dir : "/",
        .network =
            !json_is_true(json_object_get(r->doc, "EnableNetworkIsolation")) ||
            r->netns >= 0,
        .cmd = strv_argv(&cmd),
    };
    if (access(r->t->o.bwrap, X_OK) != 0)
        rc = diag_set(&r->d, KILN_EIO,
                      "InternalServerError: images run under bubblewrap, "
                      "which is not at %s (apt-get install bubblewrap)",
                      r->t->o.bwrap);
    else if ((rc = sandbox_argv(&plan, &bwrap_argv)) != 0)
        diag_set(&r->d, rc, "cannot build the sandbox's command");
    else
        strv_addv(argv, (const char *const *)bwrap_argv);
    launch_argv_free(bwrap_argv);
    strv_release(&cmd);
    strv_release(&mine);
    buf_release(&tree);
    return rc;
}

/* The token of the job's kiln rsh, in a file only kiln's user reads,
 * bound into the sandboxes at RSH_TOKEN_FILE. */
static int rsh_token_file(struct run *r)
{
    char token[RSH_TOKEN_LEN + 1];
    int fd = -1;

    snprintf(r->rsh_token, sizeof(r->rsh_token), "%s/rsh-token",
             buf_cstr(&r->dir));
    if (rsh_token_new(token))
        fd = open(r->rsh_token, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, token, RSH_TOKEN_LEN) == RSH_TOKEN_LEN;
    if (fd >= 0)
        close(fd);
    explicit_bzero(token, sizeof(token));
    if (ok)
        return 0;
    return diag_set(&r->d, KILN_EIO,
                    "InternalServerError: cannot write the job's MPI token "
                    "%s: %s",
                    r->rsh_token, strerror(errno));
}

/* A network namespace for the instances of a network-isolated job, in
 * *fd; without one (kiln needs CAP_SYS_ADMIN to make it), each instance
 * gets its own, and the log says so. */
static void isolated_network(struct run *r, int *fd)
{
    char msg[256];
    *fd = sandbox_netns_new();
    if (*fd >= 0)
        return;
    snprintf(msg, sizeof(msg),
             "kiln cannot make a network for the instances of this "
             "network-isolated job to share (%s): each has one of its own "
             "and they cannot reach each other",
             strerror(errno));
    for (int h = 1; h <= r->hosts; h++)
        log_host(r, h, msg);
}

/*
 * A script-mode entry point or an image: every host's in a sandbox of its
 * own, all on this machine, as SageMaker runs one container per instance.
 * The job's exit code is that of the first to fail (r->failed_host),
 * which stops the others; else 0.
 */
static int train_sandboxed(struct run *r, int *exit_code, const char **why)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = (size_t)r->hosts, failed = n;
    struct proc *ps = xcalloc(n, sizeof(*ps));
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        proc_init(&ps[i]);
    if (r->mpi)
        r->follows = xcalloc(n, sizeof(*r->follows));
    /* Isolated instances still reach each other, as on SageMaker: one
     * network of their own for all. */
    if (n > 1 &&
        json_is_true(json_object_get(r->doc, "EnableNetworkIsolation")))
        isolated_network(r, &r->netns);
    for (size_t i = 0; !rc && i < n; i++) {
        struct strv argv = STRV_INIT, env = STRV_INIT;
        const struct instance_type *it =
            instance_find(jstr(group_of(r, (int)i + 1), "instance_type"));
        int threads = it ? it->vcpus : 1;
        /* Instances share this machine's cores; the instance type's
         * memory caps each one's address space. */
        if (cores > 0 && threads > cores / r->hosts)
            threads = cores / r->hosts > 0 ? (int)(cores / r->hosts) : 1;
        ps[i].netns_fd = r->netns;
        if (it)
            ps[i].mem_limit = (uint64_t)it->memory_gib << 30;
        rc = r->script ? script_command(r, (int)i + 1, threads, &argv, &env)
                       : image_command(r, (int)i + 1, threads, &argv, &env);
        if (!rc)
            rc = proc_start(&ps[i], strv_argv(&argv), strv_argv(&env),
                            buf_cstr(&r->dir), &r->d);
        strv_release(&argv);
        strv_release(&env);
    }
    if (!rc) {
        pump(r, ps, n, &failed, why);
        *exit_code = 0;
        failed = proc_wait_all(ps, n, failed);
        if (failed < n) {
            r->failed_host = (int)failed + 1;
            *exit_code = ps[failed].exit_status;
        }
    }
    for (size_t i = 0; i < n; i++)
        proc_release(&ps[i]);
    mem_free(ps);
    mem_free(r->follows);
    r->follows = NULL;
    if (r->netns >= 0)
        close(r->netns);
    r->netns = -1;
    return rc;
}

/* Runs the built-in: directly for one host, as the ranks of one mpirun
 * for several; or a script-mode entry point or an image (above). */
static int train(struct run *r, const struct cmd_builtin *b, int *exit_code,
                 const char **why)
{
    struct strv env = STRV_INIT, rank_env = STRV_INIT, spec_env = STRV_INIT;
    const struct instance_type *it = instance_find(
        jstr(json_object_get(r->doc, "ResourceConfig"), "InstanceType"));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = it ? it->vcpus : 1;
    const char *cmd[] = {r->t->exe, "algo", b ? b->name : "", "train", NULL};
    char **mpi_argv = NULL;
    struct proc p;
    size_t failed;
    int rc = 0;

    if (!b)
        return train_sandboxed(r, exit_code, why);
    /* Instances sharing this machine share its cores. */
    if (!r->t->o.hostfile && cores > 0 && threads > cores / r->hosts)
        threads = cores / r->hosts > 0 ? (int)(cores / r->hosts) : 1;
    if (r->hosts == 1) {
        strv_addf(&env, "SM_INPUT_DIR=%s/algo-1/input", buf_cstr(&r->dir));
        strv_addf(&env, "SM_MODEL_DIR=%s/algo-1/model", buf_cstr(&r->dir));
        strv_addf(&env, "SM_OUTPUT_DIR=%s/algo-1/output", buf_cstr(&r->dir));
        job_env(r, threads, &env);
    } else {
        job_env(r, threads, &rank_env);
        strv_addf(&rank_env, "KILN_MPI=1");
        if (r->fetch)
            rc = fetch_publish(r, &spec_env);
#ifdef KILN_SANITIZED
        /* Whole stacks, so that Open MPI's own leaks at exit match the
         * suppressions in main.c; no scan of thread-local storage, which
         * makes gcc 12's LSan crash in ranks started by Open MPI's remote
         * daemons; leaks looked for before MPI_Finalize (comm_finish),
         * not at exit, where Open MPI's unloaded components leave
         * allocations no suppression can name. */
        strv_addf(&rank_env, "LSAN_OPTIONS=fast_unwind_on_malloc=0:use_tls=0:"
                             "leak_check_at_exit=0");
#endif
        struct launch_plan plan = {
            .mpirun = r->t->o.mpirun,
            .ranks = r->hosts,
            .hostfile = r->t->o.hostfile,
            .mpi_options = r->t->o.mpi_options,
            .as_root = geteuid() == 0,
            .job_dir = buf_cstr(&r->dir),
            .env = strv_argv(&rank_env),
            .rank_env = r->fetch ? strv_argv(&spec_env) : NULL,
            .remote_trees = r->fetch,
            .cmd = cmd,
        };
        if (!rc && launch_argv(&plan, &mpi_argv) != 0)
            rc =
                diag_set(&r->d, KILN_EINVAL, "cannot build the mpirun command");
        /* mpirun itself needs little; the ranks get theirs from -x. */
        strv_addf(&env, "PATH=%s", "/usr/local/bin:/usr/bin:/bin");
        strv_addf(&env, "HOME=%s", buf_cstr(&r->dir));
    }
    proc_init(&p);
    /* The instance type's memory caps each algorithm's address space. */
    if (it)
        p.mem_limit = (uint64_t)it->memory_gib << 30;
    if (!rc)
        rc = proc_start(&p, mpi_argv ? (const char *const *)mpi_argv : cmd,
                        strv_argv(&env), buf_cstr(&r->dir), &r->d);
    if (!rc) {
        pump(r, &p, 1, &failed, why);
        rc = proc_wait(&p, false, exit_code);
    }
    proc_release(&p);
    launch_argv_free(mpi_argv);
    strv_release(&env);
    strv_release(&rank_env);
    strv_release(&spec_env);
    if (r->fetch)
        fetch_collect(r);
    return rc;
}

/* ---- upload ------------------------------------------------------------ */

static int upload_dir(struct run *r, const char *dir, const char *name)
{
    char bucket[64];
    struct buf tgz = BUF_INIT(8192), key = BUF_INIT(8192);
    int rc;

    rc = output_prefix(r, bucket, sizeof(bucket), &key);
    if (rc) {
        buf_release(&key);
        return rc;
    }
    buf_addf(&key, "output/%s", name);
    buf_addf(&tgz, "%s/%s", buf_cstr(&r->dir), name);
    rc = artifact_pack(dir, buf_cstr(&tgz), &r->d);
    if (!rc)
        rc = objstore_put_path(r->t->o.store, bucket, buf_cstr(&key),
                               buf_cstr(&tgz), "application/x-tar", &r->d);
    unlink(buf_cstr(&tgz));
    buf_release(&tgz);
    buf_release(&key);
    return rc;
}

/* ---- several instances of a script or an image ---------------------- */

/* Gives the job an address slot for its instances and writes their
 * /etc/hosts (sandbox.h). */
static int hosts_file(struct run *r)
{
    mkdir(buf_cstr(&r->dir), 0755);
    return sandbox_hosts_prepare(buf_cstr(&r->dir), r->hosts,
                                 r->image ? buf_cstr(&r->image->rootfs) : NULL,
                                 &r->slot, r->hosts_file, sizeof(r->hosts_file),
                                 &r->d);
}

struct merge {
    struct buf *into;
    size_t len; /* of into's directory, without its '/' */
};

static void merge_file(void *ctx, const char *file, const char *rel)
{
    struct merge *m = ctx;
    m->into->len = m->len;
    buf_addf(m->into, "/%s", rel);
    fsx_make_parents(m->into->data, m->len);
    if (rename(file, buf_cstr(m->into)) != 0)
        log_warn("event=merge_skipped file=%s err=%s", buf_cstr(m->into),
                 strerror(errno));
    m->into->len = m->len;
    m->into->data[m->len] = '\0';
}

/*
 * What every host left in its <sub> (model, output/data), in one new
 * directory named in *out, as SageMaker puts all instances' files in one
 * model.tar.gz: a later host's file replaces an earlier one's. Only
 * regular files move (walked without following links), into directories
 * kiln makes, so nothing a job left can send a file elsewhere.
 */
static void merge_hosts(struct run *r, const char *sub, struct buf *out)
{
    struct buf from = BUF_INIT(8192);
    buf_reset(out);
    buf_addf(out, "%s/merged-%s", buf_cstr(&r->dir),
             strchr(sub, '/') ? "output" : sub);
    fsx_remove_tree(buf_cstr(out));
    mkdir(buf_cstr(out), 0755);
    struct merge m = {out, out->len};
    for (int h = 1; h <= r->hosts; h++) {
        buf_reset(&from);
        buf_addf(&from, "%s/algo-%d/%s", buf_cstr(&r->dir), h, sub);
        fsx_walk(buf_cstr(&from), merge_file, &m);
    }
    buf_release(&from);
}

/* ---- the job thread ------------------------------------------------- */

static void finish(struct run *r, const char *status, const char *secondary,
                   const char *message, const char *reason)
{
    double now = tm_now();
    if (r->start == 0)
        r->start = now;
    r->end = now;
    if (reason) {
        char cut[1025];
        str_copy(cut, reason, sizeof(cut));
        str_utf8_fix(cut, strlen(cut)); /* the cut may split a character */
        json_object_set_new(r->doc, "FailureReason", json_string(cut));
    }
    json_object_set_new(r->doc, "TrainingJobStatus", json_string(status));
    json_object_set_new(r->doc, "TrainingEndTime", json_real(now));
    int64_t secs = (int64_t)llround(r->end - r->start);
    if (secs < 1)
        secs = 1;
    json_object_set_new(r->doc, "TrainingTimeInSeconds", json_integer(secs));
    json_object_set_new(r->doc, "BillableTimeInSeconds", json_integer(secs));
    json_t *list = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(r->metrics, k, v) json_array_append(list, v);
    json_object_set_new(r->doc, "FinalMetricDataList", list);
    /* Metered before the job reads as ended, so a report asked for then
     * has it. */
    size_t i;
    json_array_foreach(r->groups, i, v)
    {
        int n = (int)json_array_size(json_object_get(v, "hosts"));
        struct meta_usage u = {
            .account = r->job->account,
            .arn = jstr(r->doc, "TrainingJobArn"),
            .kind = "training",
            .instance_type = jstr(v, "instance_type"),
            .instance_count = n,
            .start = r->start,
            .end = r->end,
            .billable_seconds = secs * n,
        };
        if (n > 0 && u.instance_type)
            meta_usage_add(r->t->o.meta, &u);
    }
    step(r, secondary, message);
    log_info("event=job_end job=%s status=%s seconds=%lld", r->job->name,
             status, (long long)secs);
}

/* A stop that came before training began (while the job waited for a
 * slot, or during its download): nothing to upload. */
static bool stopped_early(struct run *r)
{
    if (!stop_requested(r))
        return false;
    feeders_stop(r);
    step(r, "Stopping", "Stopping the training job");
    finish(r, "Stopped", "Stopped", "Training job stopped", NULL);
    return true;
}

static void run_job(struct run *r)
{
    json_t *algo = json_object_get(r->doc, "AlgorithmSpecification");
    const char *image = jstr(algo, "TrainingImage");
    const struct cmd_builtin *b =
        cmd_builtin_for(image ? image : jstr(algo, "AlgorithmName"));
    const char *why = NULL;
    int code = 0, rc;

    step(r, "Starting", "Preparing the instances for training");
    r->start = tm_now();
    /* Log streams are named for the start: <job>/algo-<n>-<time>. */
    r->stream_time = (long long)time(NULL);
    json_object_set_new(r->doc, "TrainingStartTime", json_real(r->start));
    if (stopped_early(r))
        return;
    r->script =
        !b && toolkit_is_script(json_object_get(r->doc, "HyperParameters"));
    if (!b && !r->script && image &&
        image_find(r->t->o.data_dir, image, &r->own_image, NULL) == 0)
        r->image = &r->own_image;
    if (!b && !r->script && !r->image) {
        finish(r, "Failed", "Failed", "Training job failed",
               "ClientError: The training image is not a kiln built-in "
               "algorithm, the job names no entry point (sagemaker_program) "
               "and no image of that name was loaded: load it with `kiln "
               "admin images load` (a `docker save` archive).");
        return;
    }
    if (b && json_object_get(json_object_get(r->doc, "ResourceConfig"),
                             "InstanceGroups")) {
        finish(r, "Failed", "Failed", "Training job failed",
               "ClientError: heterogeneous clusters (InstanceGroups) run "
               "script-mode and image jobs; the built-in algorithms take "
               "InstanceType and InstanceCount.");
        return;
    }
    const char *launcher =
        r->script ? toolkit_launcher(json_object_get(r->doc, "HyperParameters"))
                  : NULL;
    r->mpi = launcher && strcmp(launcher, TOOLKIT_MPI) == 0;
    if (launcher && !toolkit_launcher_supported(launcher)) {
        char reason[512];
        snprintf(reason, sizeof(reason),
                 "ClientError: kiln does not start this distributed launcher "
                 "of the training toolkit (%s: the SDK's `distribution`); it "
                 "starts torchrun (torch_distributed), or runs the entry "
                 "point on every instance, which finds the others by "
                 "SM_HOSTS and SM_CURRENT_HOST.",
                 launcher);
        finish(r, "Failed", "Failed", "Training job failed", reason);
        return;
    }
    if ((r->script || r->image) && hosts_file(r) != 0) {
        finish(r, "Failed", "Failed", "Training job failed", r->d.msg);
        return;
    }
    if (r->mpi && rsh_token_file(r) != 0) {
        finish(r, "Failed", "Failed", "Training job failed", r->d.msg);
        return;
    }
    for (size_t i = 0; b && i < KILN_ARRAY_LEN(b->metrics) && b->metrics[i][0];
         i++)
        metric_set_add(r->defs, b->metrics[i][0], b->metrics[i][1], NULL);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(algo, "MetricDefinitions"), i, m)
        metric_set_add(r->defs, jstr(m, "Name"), jstr(m, "Regex"), NULL);

    mkdir(buf_cstr(&r->dir), 0755);
    step(r, "Downloading", "Downloading input data");
    rc = prepare_tree(r);
    /* Only built-ins run on the cluster's hosts; the instances of a
     * script or an image share this machine. */
    r->fetch = b && r->hosts > 1 && r->t->o.hostfile && r->t->o.cluster_url;
    if (!rc && r->fetch)
        rc = fetch_begin(r);
    if (!rc)
        rc = download(r);
    if (!rc && r->script)
        rc = fetch_code(r);
    if (!rc)
        rc = checkpoints_restore(r);
    if (rc) {
        feeders_stop(r);
        finish(r, "Failed", "Failed", "Training job failed", r->d.msg);
        return;
    }
    if (stopped_early(r))
        return;
    step(r, "Training", "Downloading the training image");
    step(r, "Training",
         "Training image download completed. Training in "
         "progress.");
    rc = train(r, b, &code, &why);
    feeders_stop(r);
    struct kiln_diag saving = {0};
    if (checkpoints_save(r, &saving) != 0 && !rc && !why && code == 0) {
        r->d = saving; /* else the job's own failure says more */
        rc = KILN_EIO;
    }
    if (rc) {
        finish(r, "Failed", "Failed", "Training job failed", r->d.msg);
        return;
    }
    if (why && strcmp(why, "Interrupted") == 0) {
        finish(r, "Failed", "Failed", "Training job failed", SHUTDOWN_REASON);
        return;
    }
    if (!why && code != 0) {
        struct buf fpath = BUF_INIT(8192), text = BUF_INIT(64 * 1024),
                   reason = BUF_INIT(64 * 1024);
        char chunk[4096];
        ssize_t n;
        /* The host that failed first tells why, or the first host that
         * wrote a failure file. */
        int fd = -1;
        for (int k = 0; fd < 0 && k <= r->hosts; k++) {
            int h = k ? k : r->failed_host;
            buf_reset(&fpath);
            buf_addf(&fpath, "%s/algo-%d/output/failure", buf_cstr(&r->dir), h);
            fd = open(buf_cstr(&fpath), O_RDONLY | O_CLOEXEC);
        }
        while (fd >= 0 && (n = read(fd, chunk, sizeof(chunk))) > 0 &&
               text.len < 2048)
            buf_add(&text, chunk, (size_t)n);
        if (fd >= 0)
            close(fd);
        if (str_starts(buf_cstr(&text), "ClientError: "))
            buf_adds(&reason, buf_cstr(&text));
        else if (r->script && !text.len)
            /* The toolkit's report of a script that failed. */
            buf_addf(&reason,
                     "AlgorithmError: ExecuteUserScriptError:\nExitCode "
                     "%d\nErrorMessage \"%s\"\nCommand \"%s\", exit code: "
                     "%d",
                     code,
                     buf_cstr(r->errors[r->failed_host - 1].len
                                  ? &r->errors[r->failed_host - 1]
                                  : &r->last[r->failed_host - 1]),
                     buf_cstr(&r->commands[r->failed_host - 1]), code);
        else
            buf_addf(&reason, "AlgorithmError: %s, exit code: %d",
                     text.len ? buf_cstr(&text)
                              : "the algorithm exited with an error",
                     code);
        finish(r, "Failed", "Failed", "Training job failed", buf_cstr(&reason));
        buf_release(&fpath);
        buf_release(&text);
        buf_release(&reason);
        return;
    }
    /* Completed, stopped or out of time: the model is uploaded all the
     * same, as SageMaker does. */
    step(r, "Uploading", "Uploading generated training model");
    struct buf dir = BUF_INIT(8192);
    if (b || r->hosts == 1)
        buf_addf(&dir, "%s/algo-1/model", buf_cstr(&r->dir));
    else
        merge_hosts(r, "model", &dir);
    rc = upload_dir(r, buf_cstr(&dir), "model.tar.gz");
    buf_reset(&dir);
    if (b || r->hosts == 1)
        buf_addf(&dir, "%s/algo-1/output/data", buf_cstr(&r->dir));
    else
        merge_hosts(r, "output/data", &dir);
    if (!rc)
        rc = upload_dir(r, buf_cstr(&dir), "output.tar.gz");
    buf_release(&dir);
    if (rc)
        finish(r, "Failed", "Failed", "Training job failed", r->d.msg);
    else if (!why)
        finish(r, "Completed", "Completed", "Training job completed", NULL);
    else if (strcmp(why, "Stopped") == 0)
        finish(r, "Stopped", "Stopped", "Training job stopped", NULL);
    else
        finish(r, "Stopped", "MaxRuntimeExceeded",
               "Training job stopped: it reached MaxRuntimeInSeconds", NULL);
}

static void *job_thread(void *arg)
{
    struct job *job = arg;
    struct trainer *t = job->t;
    struct run r = {.job = job,
                    .t = t,
                    .dir = BUF_INIT(8192),
                    .stage = BUF_INIT(64 * 1024),
                    .failed_host = 1,
                    .slot = -1,
                    .netns = -1};
    char *body = NULL;

    /* Wait for a slot; a job stopped meanwhile goes at once, to stop. */
    pthread_mutex_lock(&t->lock);
    while (t->running >= t->o.max_jobs && !t->closing && !job->stop_requested)
        pthread_cond_wait(&t->changed, &t->lock);
    t->running++;
    pthread_mutex_unlock(&t->lock);

    if (meta_training_get(t->o.meta, job->account, job->name, &body) == 0)
        r.doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (r.doc) {
        plan_groups(&r);
        r.last = xcalloc((size_t)r.hosts, sizeof(*r.last));
        r.errors = xcalloc((size_t)r.hosts, sizeof(*r.errors));
        r.commands = xcalloc((size_t)r.hosts, sizeof(*r.commands));
        for (int h = 0; h < r.hosts; h++) {
            buf_init(&r.last[h], 4096);
            buf_init(&r.errors[h], 4096);
            buf_init(&r.commands[h], 4096);
        }
        r.metrics = json_object();
        r.defs = metric_set_new();
        buf_addf(&r.dir, "%s/%s/%s", t->jobs_dir, job->account, job->name);
        {
            struct buf acct = BUF_INIT(8192);
            buf_addf(&acct, "%s/%s", t->jobs_dir, job->account);
            mkdir(buf_cstr(&acct), 0755);
            buf_release(&acct);
        }
        if (closing(t))
            finish(&r, "Failed", "Failed", "Training job failed",
                   SHUTDOWN_REASON);
        else
            run_job(&r);
        if (r.fetch)
            fetch_cleanup(&r);
        json_decref(r.specs);
        explicit_bzero(&r.key, sizeof(r.key)); /* the signing secret */
        if (!t->o.keep_dirs)
            fsx_remove_tree(buf_cstr(&r.dir));
        json_decref(r.doc);
        json_decref(r.metrics);
        metric_set_free(r.defs);
    }
    buf_release(&r.dir);
    buf_release(&r.stage);
    for (int h = 0; r.last && h < r.hosts; h++) {
        buf_release(&r.last[h]);
        buf_release(&r.errors[h]);
        buf_release(&r.commands[h]);
    }
    mem_free(r.last);
    mem_free(r.errors);
    mem_free(r.commands);
    json_decref(r.groups);
    mem_free(r.host_group);
    sandbox_slot_give(r.slot);
    image_release(&r.own_image);
    json_decref(r.synced);
    pthread_mutex_lock(&t->lock);
    t->running--;
    job->done = true;
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- the api_jobs ops ----------------------------------------------- */

/* Joins and frees finished jobs (lock held). */
static void reap(struct trainer *t)
{
    struct job **pp = &t->jobs;
    while (*pp) {
        struct job *j = *pp;
        if (j->done) {
            pthread_join(j->thread, NULL);
            *pp = j->next;
            mem_free(j);
        } else {
            pp = &j->next;
        }
    }
}

static int start_job(void *ctx, const char *account, const char *name)
{
    struct trainer *t = ctx;
    struct job *j = xcalloc(1, sizeof(*j));
    int rc = 0;

    j->t = t;
    str_copy(j->account, account, sizeof(j->account));
    str_copy(j->name, name, sizeof(j->name));
    pthread_mutex_lock(&t->lock);
    reap(t);
    if (t->closing || pthread_create(&j->thread, NULL, job_thread, j) != 0) {
        rc = KILN_EUNAVAILABLE;
        mem_free(j);
    } else {
        j->next = t->jobs;
        t->jobs = j;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int stop_job(void *ctx, const char *account, const char *name)
{
    struct trainer *t = ctx;
    int rc = KILN_ENOTFOUND;
    pthread_mutex_lock(&t->lock);
    for (struct job *j = t->jobs; j; j = j->next)
        if (!j->done && strcmp(j->account, account) == 0 &&
            strcasecmp(j->name, name) == 0) {
            j->stop_requested = true;
            rc = 0;
        }
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Jobs a previous server left running can never finish: fail them. */
static int fail_orphan(void *ctx, const char *account, const char *name)
{
    struct trainer *t = ctx;
    char *body = NULL;
    struct buf dir = BUF_INIT(8192);

    if (meta_training_get(t->o.meta, account, name, &body) == 0) {
        struct job job = {.t = t};
        struct run r = {.job = &job, .t = t, .dir = BUF_INIT(8192)};
        str_copy(job.account, account, sizeof(job.account));
        str_copy(job.name, name, sizeof(job.name));
        r.doc = json_loads(body, 0, NULL);
        r.metrics = json_object();
        r.hosts = 1;
        json_t *st = json_object_get(r.doc, "TrainingStartTime");
        r.start = st ? json_number_value(st) : 0;
        if (r.doc)
            finish(&r, "Failed", "Failed", "Training job failed",
                   "InternalServerError: kiln server stopped while the "
                   "training job was running; its partial results were "
                   "discarded.");
        json_decref(r.doc);
        json_decref(r.metrics);
        buf_release(&r.dir);
        log_warn("event=job_orphaned job=%s", name);
    }
    mem_free(body);
    buf_addf(&dir, "%s/%s/%s", t->jobs_dir, account, name);
    fsx_remove_tree(buf_cstr(&dir));
    buf_release(&dir);
    return 0;
}

int trainer_new(const struct trainer_opts *o, struct trainer **out,
                struct kiln_diag *d)
{
    struct trainer *t = xcalloc(1, sizeof(*t));
    struct buf p = BUF_INIT(8192);
    ssize_t n;

    t->o = *o;
    if (t->o.max_jobs < 1)
        t->o.max_jobs = 1;
    buf_addf(&p, "%s/jobs", o->data_dir);
    t->jobs_dir = buf_detach(&p, NULL);
    mkdir(t->jobs_dir, 0700);
    n = readlink("/proc/self/exe", t->exe, sizeof(t->exe) - 1);
    if (n <= 0) {
        mem_free(t->jobs_dir);
        mem_free(t);
        return diag_set(d, KILN_EIO, "cannot find the kiln executable");
    }
    t->exe[n] = '\0';
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->changed, NULL);
    t->api.ctx = t;
    t->api.start = start_job;
    t->api.stop = stop_job;
    t->api.max_training_instances = t->o.max_instances;
    meta_training_each_status(o->meta, "InProgress", fail_orphan, t);
    meta_training_each_status(o->meta, "Stopping", fail_orphan, t);
    *out = t;
    return 0;
}

const struct api_jobs *trainer_api(struct trainer *t)
{
    return &t->api;
}

void trainer_free(struct trainer *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->closing = true;
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->lock);
    for (;;) {
        pthread_mutex_lock(&t->lock);
        bool all = true;
        for (struct job *j = t->jobs; j; j = j->next)
            all &= j->done;
        reap(t);
        pthread_mutex_unlock(&t->lock);
        if (all)
            break;
        usleep(20000);
    }
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->changed);
    mem_free(t->jobs_dir);
    mem_free(t);
}
