/*
 * hoster.c - endpoints as fleets of model-server processes.
 *
 * A fleet (the variants and instances of one deployment) is reference
 * counted: an invocation holds a reference while it talks to an instance,
 * so an update can swap fleets under the lock and stop the old one once
 * its last request is done. The monitor thread owns restarts and health
 * checks; lifecycle work (create, update, delete) runs on a thread per
 * operation so the API answers at once, as SageMaker's does.
 */
#include "cmd/hoster.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/cloudwatch.h"
#include "api/hosting.h"
#include "base/fsx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/strv.h"
#include "base/tm.h"
#include "cmd/capture.h"
#include "cmd/cmd.h"
#include "formats/artifact.h"
#include "jobs/image.h"
#include "jobs/proc.h"
#include "jobs/sandbox.h"
#include "meta/meta.h"

#define START_TIMEOUT     30.0
#define INVOKE_TIMEOUT_MS 60000L
#define MODEL_MAX         ((uint64_t)16 << 30)
/* What the default --max-endpoint-instances counts a model server as
 * using: its process, the model and the requests in flight. */
#define INSTANCE_MEM ((long long)64 << 20)
/* The models a multi-model endpoint keeps loaded per instance (each a
 * model server of its own). */
#define MODELS_PER_INSTANCE 16

struct instance {
    struct proc proc;
    char sock[108];
    int id;
    bool ready;
    int restarts;
    struct buf pending; /* partial output line */
    /* A multi-model variant's slot: the TargetModel it serves ("" when
     * free), from its own model directory; loaded by the first request
     * for it (loading meanwhile), dropped when least recently used. */
    char target[1025];
    char model_dir[700];
    bool loading;
    /* Requests in it: a slot's under the hoster's lock, an instance's
     * with atomics (call_variant, stop_instance). */
    int busy;
    double used;
    /* A rolling update's: an idle instance takes no requests and the
     * monitor leaves it alone; one that is also off has no process (not
     * started yet, or stopped). */
    bool idle, off;
};

struct variant {
    char name[64];
    double weight;
    int count; /* InitialInstanceCount */
    /* Entries of inst: count, or for a multi-model variant (Mode
     * MultiModel) MODELS_PER_INSTANCE slots per instance, whose models
     * are under s3://mm_bucket/mm_prefix. */
    int slots;
    bool multi;
    char mm_bucket[64];
    char mm_prefix[1024];
    char algo[32];
    char image[256];
    char model_dir[700];
    /* A script-mode model (its container names SAGEMAKER_PROGRAM): served
     * by `kiln algo script serve` under bubblewrap, with tree (model/ and
     * code/) at /opt/ml and the container's Environment. */
    bool script;
    bool isolated; /* EnableNetworkIsolation */
    char tree[700];
    struct strv env;
    /* A bring-your-own image (`kiln admin images load`): run as `docker
     * run <image> serve` in its root file system with tree/model at
     * /opt/ml/model, in a network namespace of its own where it listens
     * on port 8080; its instances' sock is "netns:<pid>" (netns_pid). */
    struct image img;
    bool byo;
    char itype[64]; /* InstanceType: what its instances are metered as */
    struct instance **inst; /* each allocated apart: see add_slots */
    unsigned rr;
    struct capture_buf cap; /* guarded by the hoster's lock */
    /* Serverless (ServerlessConfig): one instance, at most max_concurrency
     * requests in it at once (0: an instance-based variant). */
    int memory_mb, max_concurrency;
    int inflight; /* guarded by the hoster's lock */
    /* A shadow variant (ShadowProductionVariants) answers copies of
     * requests, off the request path; its share of them is its weight
     * over that of the variant that answered, taken exactly (acc). */
    bool shadow;
    unsigned shadow_acc; /* guarded by the hoster's lock */
    /* Invocations since the monitor last wrote them to the metrics
     * (CloudWatch's AWS/SageMaker), latencies in microseconds; guarded
     * by the hoster's lock. */
    struct vstats {
        double n, e4, e5;
        double model[3], overhead[3]; /* sum, min, max */
        double overhead_n;
    } stats;
};

struct fleet {
    struct variant *v;
    size_t nv;
    int refs;
    char dir[512];
    char account[13], endpoint[64];
    struct capture_cfg cap;
    int reserved;   /* instances counted against the server's limit */
    double metered; /* usage recorded up to then (0: a job's fleet) */
    bool async;     /* AsyncInferenceConfig: InvokeEndpointAsync only */
    int shadows;    /* shadow variants among v */
    unsigned gen;   /* in its instances' socket names */
};

struct endpoint {
    char account[13];
    char name[64];
    struct fleet *fleet; /* serving, or NULL */
    /* While an update shifts traffic by steps (canary, linear), its new
     * fleet takes green_share of the requests. */
    struct fleet *green;
    double green_share;
    bool in_service;
    bool busy; /* a lifecycle operation runs */
    /* A transform job's fleet (hoster_job_start): on h->jobs, never
     * found by endpoint name, logging to the job's log group. */
    bool job;
    struct endpoint *next;
};

struct op {
    struct hoster *h;
    char account[13];
    char name[64];
    /* OP_RESUME: an endpoint in service before kiln restarted. */
    enum { OP_CREATE, OP_RESUME, OP_UPDATE, OP_DELETE } kind;
    pthread_t thread;
    unsigned seq; /* the operations on one endpoint run in this order */
    bool done;
    struct op *next;
};

struct hoster {
    struct hoster_opts o;
    char exe[4096];
    char *root;
    char *kept;       /* <data>/endpoint-models: each deployed model.tar.gz */
    char sockdir[64]; /* /tmp/kiln-XXXXXX: model-server sockets */
    pthread_mutex_t lock;
    struct endpoint *eps;
    struct endpoint *jobs; /* transform jobs' fleets */
    struct op *ops;
    pthread_t monitor;
    pthread_cond_t wake;    /* the monitor: a spawn request is queued */
    pthread_cond_t spawned; /* a requester: its spawn is done */
    struct spawn *spawnq;
    bool closing;
    bool stopping;           /* hoster_free has begun: long waits give up */
    double stats_flushed;    /* when the monitor last wrote metrics */
    double usage_flushed;    /* when it last metered the fleets */
    unsigned seq;            /* fleet generations: unique file names */
    unsigned rng;            /* rand_r state: weighted variant choice */
    unsigned opseq;          /* operations, in the order they were asked for */
    int instances;           /* in fleets that run or start */
    int max_instances;       /* --max-endpoint-instances */
    struct handles *handles; /* kept-alive connections to instances */
    /* Copies of requests for shadow variants, oldest first, and the
     * thread that sends them. */
    struct mirror *mirrors, **mirrors_tail;
    int nmirrors;
    size_t mirror_bytes;
    pthread_cond_t mirror_wake;
    pthread_t mirror_thread;
};

/* ---- curl handles: kept-alive connections to instances ---------------- */

/*
 * Idle handles, each holding its connection to one instance's socket,
 * shared by every thread: a request takes one for its instance (or makes
 * one), and puts it back when done. Front-door threads come and go with
 * client connections, so a per-thread cache would reconnect to the
 * instance for every client that does not keep its connection alive.
 */
#define IDLE_HANDLES 256

struct handles {
    pthread_mutex_t lock;
    int n;
    struct {
        char sock[108];
        CURL *h;
    } idle[IDLE_HANDLES]; /* oldest first */
};

static CURL *handle_get(struct hoster *h, const char *sock)
{
    struct handles *p = h->handles;
    CURL *c = NULL;

    pthread_mutex_lock(&p->lock);
    for (int i = p->n - 1; i >= 0; i--)
        if (strcmp(p->idle[i].sock, sock) == 0) {
            c = p->idle[i].h;
            memmove(&p->idle[i], &p->idle[i + 1],
                    (size_t)(p->n - i - 1) * sizeof(p->idle[0]));
            p->n--;
            break;
        }
    pthread_mutex_unlock(&p->lock);
    return c ? c : curl_easy_init();
}

static void handle_put(struct hoster *h, const char *sock, CURL *c)
{
    struct handles *p = h->handles;
    CURL *evict = NULL;

    if (!c)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->n == IDLE_HANDLES) { /* the least recently used goes */
        evict = p->idle[0].h;
        memmove(&p->idle[0], &p->idle[1],
                (size_t)(p->n - 1) * sizeof(p->idle[0]));
        p->n--;
    }
    str_copy(p->idle[p->n].sock, sock, sizeof(p->idle[p->n].sock));
    p->idle[p->n++].h = c;
    pthread_mutex_unlock(&p->lock);
    if (evict)
        curl_easy_cleanup(evict);
}

/* Closes the idle connections to sock (its instance has stopped); NULL:
 * all of them. */
static void handles_forget(struct hoster *h, const char *sock)
{
    struct handles *p = h->handles;
    CURL *gone[IDLE_HANDLES];
    int ngone = 0, keep = 0;

    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        if (!sock || strcmp(p->idle[i].sock, sock) == 0)
            gone[ngone++] = p->idle[i].h;
        else
            p->idle[keep++] = p->idle[i];
    }
    p->n = keep;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < ngone; i++)
        curl_easy_cleanup(gone[i]);
}

struct sink {
    struct buf *body;
    char *ctype;
    size_t ctype_size;
    char *attrs;
    size_t attrs_size;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    return buf_add(s->body, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t len = size * n;
    static const char attrs[] = "X-Amzn-SageMaker-Custom-Attributes:";
    char *dst = NULL;
    size_t dsize = 0, skip = 0;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        dst = s->ctype;
        dsize = s->ctype_size;
        skip = 13;
    } else if (s->attrs && len > sizeof(attrs) - 1 &&
               strncasecmp(p, attrs, sizeof(attrs) - 1) == 0) {
        dst = s->attrs;
        dsize = s->attrs_size;
        skip = sizeof(attrs) - 1;
    }
    if (dst) {
        const char *v = p + skip;
        size_t vl = len - skip;
        while (vl && (*v == ' '))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(dst, dsize, "%.*s", (int)vl, v);
    }
    return len;
}

static int on_progress(void *cancel, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return __atomic_load_n((const int *)cancel, __ATOMIC_RELAXED) != 0;
}

/* Bring-your-own images listen on this port in their own network. */
#define IMAGE_PORT 8080
#define NETNS_KEY  "netns:"

/* The process whose network namespace the instance `sock` listens in,
 * or 0 when sock is a Unix socket's path. */
static pid_t netns_pid(const char *sock)
{
    return str_starts(sock, NETNS_KEY)
               ? (pid_t)strtol(sock + strlen(NETNS_KEY), NULL, 10)
               : 0;
}

/* curl's socket, made in the instance's network namespace: this thread
 * enters it for the socket() call only (a socket keeps the namespace it
 * was made in). */
static curl_socket_t netns_socket(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *a)
{
    char path[64];
    struct stat ts, ss;
    int target, self, s = -1;

    (void)purpose;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)(intptr_t)clientp);
    target = open(path, O_RDONLY | O_CLOEXEC);
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    /* Never this machine's own network: if the sandbox is gone and its
     * pid is another process's, the call fails instead. */
    if (target >= 0 && self >= 0 && fstat(target, &ts) == 0 &&
        fstat(self, &ss) == 0 && ts.st_ino != ss.st_ino &&
        setns(target, CLONE_NEWNET) == 0) {
        s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        if (setns(self, CLONE_NEWNET) != 0) {
            /* This thread cannot come back: let it fail every call
             * rather than reach into another network. */
            log_error("event=netns_return_failed errno=%d", errno);
            if (s >= 0)
                close(s);
            s = -1;
        }
    }
    if (target >= 0)
        close(target);
    if (self >= 0)
        close(self);
    return s < 0 ? CURL_SOCKET_BAD : s;
}

/* One HTTP exchange with an instance. Returns 0 with *status, -1 when
 * the instance could not be reached, -2 when it did not answer in time,
 * -3 when req->cancel stopped it. */
static int call(CURL *c, const char *sock, const char *method, const char *path,
                const struct invoke_req *req, struct sink *s, long timeout_ms,
                int *status)
{
    struct curl_slist *hdrs = NULL;
    char url[128], line[1400];
    long code = 0;
    CURLcode rc;

    curl_easy_reset(c);
    pid_t ns = netns_pid(sock);
    if (ns > 0) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", IMAGE_PORT, path);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, netns_socket);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, (void *)(intptr_t)ns);
    } else {
        snprintf(url, sizeof(url), "http://localhost%s", path);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    if (req->cancel) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, req->cancel);
    }
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
        snprintf(line, sizeof(line), "Content-Type: %.1024s",
                 req->content_type ? req->content_type
                                   : "application/octet-stream");
        hdrs = curl_slist_append(hdrs, line);
        if (req->accept) {
            snprintf(line, sizeof(line), "Accept: %.1024s", req->accept);
            hdrs = curl_slist_append(hdrs, line);
        }
        if (req->custom_attributes) {
            snprintf(line, sizeof(line),
                     "X-Amzn-SageMaker-Custom-Attributes: %.1024s",
                     req->custom_attributes);
            hdrs = curl_slist_append(hdrs, line);
        }
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return -3;
    if (rc != CURLE_OK)
        return rc == CURLE_OPERATION_TIMEDOUT ? -2 : -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    return 0;
}

static bool ping(struct hoster *h, const char *sock)
{
    struct buf body = BUF_INIT(4096);
    char ctype[64];
    struct sink s = {&body, ctype, sizeof(ctype), NULL, 0};
    struct invoke_req none = {0};
    int status = 0;
    CURL *c = handle_get(h, sock);
    bool ok = c &&
              call(c, sock, "GET", "/ping", &none, &s, 2000, &status) == 0 &&
              status == 200;
    handle_put(h, sock, c);
    buf_release(&body);
    return ok;
}

/* ---- fleets ----------------------------------------------------------- */

/* Starts instance `in` as the sandbox `plan` describes, with env. */
static int start_sandboxed(struct instance *in, const struct sandbox_plan *plan,
                           const struct strv *env, struct kiln_diag *d)
{
    char **argv = NULL;
    int rc = sandbox_argv(plan, &argv);

    if (rc)
        rc = diag_set(d, rc, "cannot build the model server's sandbox");
    in->ready = false;
    proc_init(&in->proc);
    if (!rc)
        rc = proc_start(&in->proc, (const char *const *)argv, strv_argv(env),
                        NULL, d);
    strv_free_argv(argv);
    return rc;
}

/* A script-mode model server: the kiln executable and the sockets'
 * directory are all it sees of the host besides its programs. */
static int start_script(struct hoster *h, struct variant *v,
                        struct instance *in, struct kiln_diag *d)
{
    static const char *const cmd[] = {"/opt/kiln/kiln", "algo", "script",
                                      "serve", NULL};
    static const char *const read_only[] = {"model", "code", NULL};
    const char *binds[] = {
        "ro", h->exe, "/opt/kiln/kiln", "rw", h->sockdir, "/run/kiln", NULL};
    const char *base = strrchr(in->sock, '/');
    struct sandbox_plan plan = {.bwrap = h->o.bwrap,
                                .tree = v->tree,
                                .read_only = read_only,
                                .binds = binds,
                                .chdir = "/opt/ml/model",
                                .network = !v->isolated,
                                .cmd = cmd};
    struct strv env = STRV_INIT;
    int rc;

    strv_addv(&env, strv_argv(&v->env));
    strv_add(&env, "SM_MODEL_DIR=/opt/ml/model");
    strv_addf(&env, "KILN_SERVE_SOCKET=/run/kiln%s", base ? base : "/x.sock");
    strv_addv(&env, (const char *const[]){
                        "KILN_LOG_LEVEL=warn", "KILN_THREADS=2", "HOME=/tmp",
                        "PYTHONUNBUFFERED=TRUE", "PYTHONDONTWRITEBYTECODE=TRUE",
                        "PATH=/usr/local/bin:/usr/bin:/bin", NULL});
    rc = start_sandboxed(in, &plan, &env, d);
    strv_release(&env);
    return rc;
}

/* The first child of process `pid` (bubblewrap's sandbox), waited for up
 * to two seconds; 0 if none came. */
static pid_t first_child(pid_t pid)
{
    char path[64], text[64];
    for (int i = 0; i < 400; i++) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
                 (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n > 0) {
            text[n] = '\0';
            return (pid_t)strtol(text, NULL, 10);
        }
        usleep(5000);
    }
    return 0;
}

/* A bring-your-own image's model server: `serve` as SageMaker runs it,
 * in the image's root file system, alone in its network namespace. */
static int start_image(struct hoster *h, struct variant *v, struct instance *in,
                       struct kiln_diag *d)
{
    static const char *const read_only[] = {"model", NULL};
    json_t *cfg = v->img.config, *x;
    const char *dir = json_string_value(json_object_get(cfg, "WorkingDir"));
    struct strv cmd = STRV_INIT, env = STRV_INIT;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(cfg, "Entrypoint"), i, x)
        strv_add(&cmd, json_string_value(x));
    strv_add(&cmd, "serve");
    strv_addv(&env, (const char *const[]){"HOME=/root",
                                          "PATH=/usr/local/sbin:/usr/local/bin:"
                                          "/usr/sbin:/usr/bin:/sbin:/bin",
                                          NULL});
    json_array_foreach(json_object_get(cfg, "Env"), i, x)
    {
        if (json_is_string(x) && strchr(json_string_value(x), '='))
            strv_setenv(&env, json_string_value(x));
    }
    for (i = 0; i < v->env.n; i++)
        strv_setenv(&env, v->env.items[i]);
    struct sandbox_plan plan = {.bwrap = h->o.bwrap,
                                .rootfs = buf_cstr(&v->img.rootfs),
                                .tree = v->tree,
                                .read_only = read_only,
                                .chdir = dir && *dir ? dir : "/",
                                .network = false,
                                .cmd = strv_argv(&cmd)};
    rc = start_sandboxed(in, &plan, &env, d);
    if (!rc) {
        pid_t child = first_child(in->proc.pid);
        if (child <= 0)
            rc = diag_set(d, KILN_EIO,
                          "The model server of variant %s did not start "
                          "its sandbox.",
                          v->name);
        else
            snprintf(in->sock, sizeof(in->sock), NETNS_KEY "%d", (int)child);
    }
    strv_release(&cmd);
    strv_release(&env);
    return rc;
}

static int start_instance(struct hoster *h, struct variant *v,
                          struct instance *in, struct kiln_diag *d)
{
    if (v->script)
        return start_script(h, v, in, d);
    if (v->byo)
        return start_image(h, v, in, d);
    char model[720], sock[160], name[80];
    const char *env[] = {model,
                         sock,
                         "KILN_LOG_LEVEL=warn",
                         "OPENBLAS_NUM_THREADS=1",
                         "KILN_THREADS=2",
                         "PATH=/usr/local/bin:/usr/bin:/bin",
                         NULL};
    const char *argv[] = {h->exe, "algo", v->algo, "serve", NULL};

    snprintf(model, sizeof(model), "SM_MODEL_DIR=%s",
             in->model_dir[0] ? in->model_dir : v->model_dir);
    snprintf(sock, sizeof(sock), "KILN_SERVE_SOCKET=%s", in->sock);
    snprintf(name, sizeof(name), "%s", v->name);
    in->ready = false;
    proc_init(&in->proc);
    return proc_start(&in->proc, argv, env, NULL, d);
}

/* Model servers are forked by the monitor thread only. A child's
 * PR_SET_PDEATHSIG fires when the *thread* that forked it exits, and the
 * operation threads that build fleets are short-lived: a server they
 * forked would be killed as soon as its endpoint came into service. */
struct spawn {
    struct variant *v;
    struct instance *in;
    struct kiln_diag *d;
    int rc;
    bool done;
    struct spawn *next;
};

static int spawn_instance(struct hoster *h, struct variant *v,
                          struct instance *in, struct kiln_diag *d)
{
    struct spawn s = {.v = v, .in = in, .d = d};

    pthread_mutex_lock(&h->lock);
    if (h->closing) {
        pthread_mutex_unlock(&h->lock);
        return diag_set(d, KILN_EUNAVAILABLE, "kiln is shutting down");
    }
    s.next = h->spawnq;
    h->spawnq = &s;
    pthread_cond_signal(&h->wake);
    while (!s.done)
        pthread_cond_wait(&h->spawned, &h->lock);
    pthread_mutex_unlock(&h->lock);
    return s.rc;
}

/* The monitor's half: runs every queued spawn. Called with h->lock held. */
static void run_spawns(struct hoster *h)
{
    if (!h->spawnq)
        return;
    while (h->spawnq) {
        struct spawn *s = h->spawnq;
        h->spawnq = s->next;
        s->rc = h->closing
                    ? diag_set(s->d, KILN_EUNAVAILABLE, "kiln is shutting down")
                    : start_instance(h, s->v, s->in, s->d);
        s->done = true;
    }
    pthread_cond_broadcast(&h->spawned);
}

/* ---- metrics ---------------------------------------------------------- */

#define STATS_FLUSH_SECONDS 5.0

static void add_sample(double agg[3], double x, bool first)
{
    agg[0] += x;
    if (first || x < agg[1])
        agg[1] = x;
    if (first || x > agg[2])
        agg[2] = x;
}

/* One answered invocation; h->lock held. */
static void count_invocation(struct vstats *s, int status, double model_us,
                             double overhead_us)
{
    add_sample(s->model, model_us, s->n == 0);
    s->n++;
    s->e4 += status >= 400 && status < 500;
    s->e5 += status >= 500;
    if (overhead_us >= 0) {
        add_sample(s->overhead, overhead_us < 0 ? 0 : overhead_us,
                   s->overhead_n == 0);
        s->overhead_n++;
    }
}

/* A variant's counts on their way to the metrics table. */
struct statq {
    char account[13], endpoint[64], variant[64];
    struct vstats s;
    int instances;
    struct statq *next;
};

/* Takes v's counts, if any; h->lock held. */
static void take_stats(const struct fleet *f, struct variant *v,
                       struct statq **list)
{
    if (v->stats.n == 0)
        return;
    struct statq *q = xcalloc(1, sizeof(*q));
    str_copy(q->account, f->account, sizeof(q->account));
    str_copy(q->endpoint, f->endpoint, sizeof(q->endpoint));
    str_copy(q->variant, v->name, sizeof(q->variant));
    q->s = v->stats;
    q->instances = v->count;
    memset(&v->stats, 0, sizeof(v->stats));
    q->next = *list;
    *list = q;
}

/* Writes and frees the list; h->lock not held. */
static void write_stats(struct hoster *h, struct statq *list)
{
    int64_t minute = (int64_t)(tm_now() / 60);
    while (list) {
        struct statq *q = list;
        const struct vstats *s = &q->s;
        double per = s->n / (q->instances > 0 ? q->instances : 1);
        struct {
            const char *name;
            double n, sum, min, max;
        } rows[] = {
            {"Invocations", s->n, s->n, 1, 1},
            {"Invocation4XXErrors", s->n, s->e4, 0, s->e4 ? 1 : 0},
            {"Invocation5XXErrors", s->n, s->e5, 0, s->e5 ? 1 : 0},
            {"InvocationsPerInstance", 1, per, per, per},
            {"ModelLatency", s->n, s->model[0], s->model[1], s->model[2]},
            {"OverheadLatency", s->overhead_n, s->overhead[0], s->overhead[1],
             s->overhead[2]},
        };
        list = q->next;
        for (size_t i = 0; i < KILN_ARRAY_LEN(rows); i++) {
            if (rows[i].n <= 0)
                continue;
            struct meta_emetric e = {.account = q->account,
                                     .endpoint = q->endpoint,
                                     .variant = q->variant,
                                     .name = rows[i].name,
                                     .minute = minute,
                                     .n = rows[i].n,
                                     .sum = rows[i].sum,
                                     .min = rows[i].min,
                                     .max = rows[i].max};
            meta_emetric_add(h->o.meta, &e);
        }
        mem_free(q);
    }
}

/* ---- usage: instance time, metered by the minute ------------------- */

#define USAGE_FLUSH_SECONDS 60.0

struct usageq {
    char account[13], endpoint[64], itype[64];
    int count;
    double start, end;
    struct usageq *next;
};

/* Takes the instance time of f's variants since it was last metered.
 * Serverless variants are billed by use in SageMaker, not metered here;
 * a transform job's fleet is metered with its job. h->lock held. */
static void take_usage(struct fleet *f, double now, struct usageq **list)
{
    if (f->metered <= 0 || now <= f->metered)
        return;
    for (size_t i = 0; i < f->nv; i++) {
        const struct variant *v = &f->v[i];
        if (v->max_concurrency || !v->itype[0])
            continue;
        int n = v->multi ? v->count : 0;
        for (int k = 0; !v->multi && k < v->slots; k++)
            n += !v->inst[k]->off;
        if (n == 0)
            continue;
        struct usageq *q = xcalloc(1, sizeof(*q));
        str_copy(q->account, f->account, sizeof(q->account));
        str_copy(q->endpoint, f->endpoint, sizeof(q->endpoint));
        str_copy(q->itype, v->itype, sizeof(q->itype));
        q->count = n;
        q->start = f->metered;
        q->end = now;
        q->next = *list;
        *list = q;
    }
    f->metered = now;
}

/* Writes and frees the list; h->lock not held. */
static void write_usage(struct hoster *h, struct usageq *list)
{
    while (list) {
        struct usageq *q = list;
        char arn[256], lc[64];
        str_lower_copy(lc, q->endpoint, sizeof(lc));
        snprintf(arn, sizeof(arn), "arn:aws:sagemaker:%s:%s:endpoint/%s",
                 h->o.region, q->account, lc);
        struct meta_usage u = {
            .account = q->account,
            .arn = arn,
            .kind = "hosting",
            .instance_type = q->itype,
            .instance_count = q->count,
            .start = q->start,
            .end = q->end,
            .billable_seconds =
                (int64_t)llround((q->end - q->start) * q->count),
        };
        meta_usage_add(h->o.meta, &u);
        list = q->next;
        mem_free(q);
    }
}

/* ---- data capture ---------------------------------------------------- */

/* Pending capture records on their way to the object store. */
struct flush {
    char account[13], bucket[64], prefix[700], endpoint[64], variant[64];
    double first;
    struct buf data;
    struct flush *next;
};

/* Takes v's pending records when they are due (or `force`); h->lock held. */
static void take_capture(struct fleet *f, struct variant *v, bool force,
                         struct flush **list)
{
    struct capture_buf *b = &v->cap;
    if (b->data.len == 0 ||
        (!force && tm_now() - b->first < CAPTURE_FLUSH_SECONDS &&
         b->data.len < CAPTURE_BUFFER_MAX / 4))
        return;
    struct flush *fl = xcalloc(1, sizeof(*fl));
    str_copy(fl->account, f->account, sizeof(fl->account));
    str_copy(fl->bucket, f->cap.bucket, sizeof(fl->bucket));
    str_copy(fl->prefix, f->cap.prefix, sizeof(fl->prefix));
    str_copy(fl->endpoint, f->endpoint, sizeof(fl->endpoint));
    str_copy(fl->variant, v->name, sizeof(fl->variant));
    fl->first = b->first;
    fl->data = b->data;
    buf_init(&b->data, CAPTURE_BUFFER_MAX);
    fl->next = *list;
    *list = fl;
}

/* Writes and frees the list; h->lock not held. */
static void write_capture(struct hoster *h, struct flush *list)
{
    while (list) {
        struct flush *fl = list;
        struct kiln_diag d = {0};
        list = fl->next;
        if (capture_write(h->o.store, h->o.meta, fl->account, fl->bucket,
                          fl->prefix, fl->endpoint, fl->variant, fl->first,
                          &fl->data, &d) != 0)
            log_warn("event=capture_dropped endpoint=%s variant=%s "
                     "bytes=%zu reason=\"%s\"",
                     fl->endpoint, fl->variant, fl->data.len, d.msg);
        buf_release(&fl->data);
        mem_free(fl);
    }
}

/* Records one invocation when it is sampled; never fails the call. */
static void capture(struct hoster *h, struct fleet *f, struct variant *v,
                    const struct invoke_req *req,
                    const struct invoke_resp *resp)
{
    struct buf line = BUF_INIT(CAPTURE_BUFFER_MAX);
    bool take;

    pthread_mutex_lock(&h->lock);
    take = capture_sample(&f->cap, &v->cap);
    pthread_mutex_unlock(&h->lock);
    if (!take)
        return;
    int rc = capture_format(&f->cap, req, resp, &line);
    pthread_mutex_lock(&h->lock);
    if (v->cap.data.len == 0)
        v->cap.first = tm_now();
    if (rc != 0 || buf_add(&v->cap.data, line.data, line.len) != 0)
        v->cap.dropped++;
    else
        v->cap.records++;
    pthread_mutex_unlock(&h->lock);
    buf_release(&line);
}

static void stop_fleet(struct hoster *h, struct fleet *f)
{
    struct flush *pending = NULL;

    if (!f)
        return;
    struct statq *stats = NULL;
    pthread_mutex_lock(&h->lock);
    struct usageq *usage = NULL;
    for (size_t i = 0; i < f->nv; i++) {
        take_capture(f, &f->v[i], true, &pending);
        take_stats(f, &f->v[i], &stats);
    }
    take_usage(f, tm_now(), &usage);
    h->instances -= f->reserved;
    pthread_mutex_unlock(&h->lock);
    write_capture(h, pending);
    write_stats(h, stats);
    write_usage(h, usage);
    for (size_t i = 0; i < f->nv; i++) {
        /* A fleet whose building failed may have variants without
         * instances. */
        if (!f->v[i].inst)
            f->v[i].slots = 0;
        for (int k = 0; k < f->v[i].slots; k++) {
            struct instance *in = f->v[i].inst[k];
            proc_signal(&in->proc, SIGTERM);
        }
        for (int k = 0; k < f->v[i].slots; k++) {
            struct instance *in = f->v[i].inst[k];
            double until = tm_now() + 5;
            int st;
            while (in->proc.pid > 0 &&
                   proc_wait(&in->proc, true, &st) == KILN_CONTINUE &&
                   tm_now() < until)
                usleep(10000);
            proc_release(&in->proc);
            buf_release(&in->pending);
            handles_forget(h, in->sock);
            if (!netns_pid(in->sock))
                unlink(in->sock);
        }
        for (int k = 0; k < f->v[i].slots; k++)
            mem_free(f->v[i].inst[k]);
        mem_free(f->v[i].inst);
        buf_release(&f->v[i].cap.data);
        strv_release(&f->v[i].env);
        image_release(&f->v[i].img);
    }
    capture_cfg_release(&f->cap);
    fsx_remove_tree(f->dir);
    mem_free(f->v);
    mem_free(f);
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Where the model.tar.gz of `variant` of an endpoint in service is kept
 * (variant NULL: the endpoint's directory). The artifact in the store may
 * be deleted; a SageMaker endpoint keeps serving all the same, and so
 * comes back after a restart. */
static void kept_path(const struct hoster *h, const char *account,
                      const char *name, const char *variant, struct buf *out)
{
    char lc[64]; /* names are unique in any case */
    str_lower_copy(lc, name, sizeof(lc));
    buf_reset(out);
    buf_addf(out, "%s/%s-%s", h->kept, account, lc);
    if (variant)
        buf_addf(out, "/%s.tar.gz", variant);
}

/* Removes what is kept for an endpoint that is gone. */
static void kept_forget(const struct hoster *h, const char *account,
                        const char *name)
{
    struct buf kp = BUF_INIT(4096);
    kept_path(h, account, name, NULL, &kp);
    fsx_remove_tree(buf_cstr(&kp));
    buf_release(&kp);
}

/* Whether `need` more instances fit; h->lock held. A blue/green update
 * needs room for both fleets, as on SageMaker. */
static int room(const struct hoster *h, int need, struct kiln_diag *d)
{
    if (need <= h->max_instances - h->instances)
        return 0;
    return diag_set(d, KILN_ELIMIT,
                    "The server-level limit 'model-server instances for "
                    "endpoint usage' is %d Instances, with current "
                    "utilization of %d Instances and a request delta of %d "
                    "Instances. Start kiln server with a higher "
                    "--max-endpoint-instances to raise it.",
                    h->max_instances, h->instances, need);
}

int hoster_endpoint_room(void *hv, int instances, struct kiln_diag *d)
{
    struct hoster *h = hv;
    pthread_mutex_lock(&h->lock);
    int rc = room(h, instances, d);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* Gives v n more instance slots, off and idle. Each is allocated apart,
 * so requests and the monitor may hold pointers to v's slots while it
 * grows; h->lock held once v is in service. */
static void add_slots(struct variant *v, int n)
{
    struct instance **more = xcalloc((size_t)(v->slots + n), sizeof(*more)),
                    **old = v->inst;
    if (v->slots)
        memcpy(more, old, (size_t)v->slots * sizeof(*more));
    for (int k = v->slots; k < v->slots + n; k++) {
        struct instance *in = more[k] = xcalloc(1, sizeof(*in));
        proc_init(&in->proc);
        buf_init(&in->pending, 256 * 1024);
    }
    v->inst = more;
    v->slots += n;
    mem_free(old);
}

/* Waits until instance `in` of v, just started, answers /ping: 0, or
 * KILN_EINVAL when it exits or takes longer than START_TIMEOUT. */
/* Appends what instance `in` of variant v printed to the log stream of
 * endpoint (or transform job, job) `name`. */
static void drain_to(struct hoster *h, const char *account, const char *name,
                     bool job, const struct variant *v, struct instance *in)
{
    char chunk[16384], group[160], stream[160];
    ssize_t n;

    if (job) {
        snprintf(group, sizeof(group), "/aws/sagemaker/TransformJobs");
        snprintf(stream, sizeof(stream), "%s/i-%d", name, in->id);
    } else {
        snprintf(group, sizeof(group), "/aws/sagemaker/Endpoints/%s", name);
        snprintf(stream, sizeof(stream), "%s/i-%d", v->name, in->id);
    }
    if (in->proc.out_fd < 0)
        return;
    fcntl(in->proc.out_fd, F_SETFL, O_NONBLOCK);
    while ((n = read(in->proc.out_fd, chunk, sizeof(chunk))) > 0) {
        buf_add(&in->pending, chunk, (size_t)n);
        char *start = in->pending.data, *nl;
        while ((nl = memchr(start, '\n',
                            in->pending.len -
                                (size_t)(start - in->pending.data)))) {
            *nl = '\0';
            meta_log_append(h->o.meta, account, group, stream,
                            (int64_t)(tm_now() * 1000), start);
            start = nl + 1;
        }
        size_t rest = in->pending.len - (size_t)(start - in->pending.data);
        memmove(in->pending.data, start, rest);
        in->pending.len = rest;
    }
}

static int await_ready(struct hoster *h, const struct variant *v,
                       struct instance *in, struct kiln_diag *d)
{
    double until = tm_now() + START_TIMEOUT;
    int st;
    for (;;) {
        bool ok = ping(h, in->sock);
        pthread_mutex_lock(&h->lock);
        in->ready = ok;
        pthread_mutex_unlock(&h->lock);
        if (ok)
            return 0;
        if (proc_wait(&in->proc, true, &st) == 0)
            return diag_set(d, KILN_EINVAL,
                            "The model server of variant %s exited with "
                            "status %d while starting; check the endpoint's "
                            "logs.",
                            v->name, st);
        if (tm_now() > until)
            return diag_set(d, KILN_EINVAL,
                            "The model server of variant %s did not pass its "
                            "/ping health check within %.0f seconds.",
                            v->name, START_TIMEOUT);
        usleep(5000);
    }
}

/* A script-mode variant's code and environment: the container's
 * Environment, with SAGEMAKER_SUBMIT_DIRECTORY's sourcedir.tar.gz (in the
 * account's store) unpacked at tree/code and the variable pointing there;
 * a submit directory inside the model (/opt/ml/model/code, where the SDK
 * repacks code) stays as it is. */
static int script_code(struct hoster *h, const char *account,
                       struct variant *var, json_t *cenv, struct kiln_diag *d)
{
    const char *submit = jstr(cenv, "SAGEMAKER_SUBMIT_DIRECTORY");
    struct buf code = BUF_INIT(4096), tgz = BUF_INIT(4096);
    const char *k, *key;
    char bucket[64];
    struct meta_bucket bk;
    json_t *v;
    int rc = 0;

    json_object_foreach(cenv, k, v)
    {
        if (strcmp(k, "SAGEMAKER_SUBMIT_DIRECTORY") != 0 && json_is_string(v))
            strv_addf(&var->env, "%s=%s", k, json_string_value(v));
    }
    buf_addf(&code, "%s/code", var->tree);
    mkdir(buf_cstr(&code), 0700);
    if (!submit) {
        strv_add(&var->env, "SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code");
    } else if (str_starts(submit, "/opt/ml/")) {
        strv_addf(&var->env, "SAGEMAKER_SUBMIT_DIRECTORY=%s", submit);
    } else if (objstore_uri_split(submit, bucket, sizeof(bucket), &key) != 0 ||
               !*key) {
        rc = diag_set(d, KILN_EINVAL,
                      "SAGEMAKER_SUBMIT_DIRECTORY must be an s3:// URI of "
                      "the code's .tar.gz or a directory under /opt/ml/, "
                      "not %s",
                      submit);
    } else if (meta_bucket_get(h->o.meta, bucket, &bk) != 0 ||
               strcmp(bk.account, account) != 0) {
        rc = diag_set(d, KILN_EINVAL,
                      "Could not access the code at %s: the bucket does not "
                      "exist or belongs to another account.",
                      submit);
    } else {
        buf_addf(&tgz, "%s/sourcedir.tar.gz", var->tree);
        rc = objstore_link_object(h->o.store, bucket, key, buf_cstr(&tgz), d);
        if (rc)
            rc = diag_set(d, KILN_EINVAL, "Could not find the code at %s.",
                          submit);
        else
            rc =
                artifact_extract(buf_cstr(&tgz), buf_cstr(&code), MODEL_MAX, d);
        unlink(buf_cstr(&tgz));
        strv_add(&var->env, "SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/code");
    }
    if (!rc && access(h->o.bwrap, X_OK) != 0)
        rc = diag_set(d, KILN_EIO,
                      "Script-mode models need bubblewrap at %s "
                      "(apt-get install bubblewrap).",
                      h->o.bwrap);
    buf_release(&code);
    buf_release(&tgz);
    return rc;
}

/*
 * Builds and starts the fleet of a deployment; waits until its instances
 * answer /ping. `start`: how many instances of each variant to start (the
 * rest are idle and off, for a rolling update to start), or -1 for all;
 * `reserve`: the instances to count against the server's limit, or -1 for
 * those of the deployment.
 */
static int build_fleet(struct hoster *h, const char *account, const char *name,
                       json_t *dep, bool resume, bool job, int start,
                       int reserve, struct fleet **out, struct kiln_diag *d)
{
    json_t *vs = json_object_get(dep, "Variants"), *v;
    struct fleet *f;
    size_t i;
    int rc, need = reserve >= 0 ? reserve : hosting_instances(dep);
    unsigned gen;

    /* The API checked for room; this reserves it, as two calls may have
     * passed that check at once. */
    pthread_mutex_lock(&h->lock);
    rc = room(h, need, d);
    if (!rc)
        h->instances += need;
    gen = ++h->seq;
    pthread_mutex_unlock(&h->lock);
    if (rc)
        return rc;
    f = xcalloc(1, sizeof(*f));
    f->reserved = need;
    f->gen = gen;
    snprintf(f->dir, sizeof(f->dir), "%s/%s-%s-%u", h->root, account, name,
             gen);
    mkdir(f->dir, 0700);
    str_copy(f->account, account, sizeof(f->account));
    str_copy(f->endpoint, name, sizeof(f->endpoint));
    capture_cfg_init(&f->cap, json_object_get(dep, "DataCaptureConfig"));
    f->async = json_object_get(dep, "AsyncInferenceConfig") != NULL;
    f->nv = json_array_size(vs);
    f->v = xcalloc(f->nv ? f->nv : 1, sizeof(*f->v));
    if (f->nv == 0)
        rc = diag_set(d, KILN_EINVAL, "The deployment has no variants.");
    json_array_foreach(vs, i, v)
    {
        struct variant *var = &f->v[i];
        json_t *model = json_object_get(v, "Model");
        json_t *pc = json_object_get(model, "PrimaryContainer");
        const char *url = jstr(pc, "ModelDataUrl");
        const struct cmd_builtin *b = cmd_builtin_for(jstr(pc, "Image"));
        str_copy(var->name, jstr(v, "VariantName"), sizeof(var->name));
        buf_init(&var->cap.data, CAPTURE_BUFFER_MAX);
        str_copy(var->image, jstr(pc, "Image") ? jstr(pc, "Image") : "",
                 sizeof(var->image));
        str_copy(var->itype,
                 jstr(v, "InstanceType") ? jstr(v, "InstanceType") : "",
                 sizeof(var->itype));
        var->weight =
            json_number_value(json_object_get(v, "InitialVariantWeight"));
        var->count =
            (int)json_integer_value(json_object_get(v, "InitialInstanceCount"));
        if (var->count < 1)
            var->count = 1;
        var->shadow = json_is_true(json_object_get(v, "KilnShadow"));
        f->shadows += var->shadow;
        json_t *sc = json_object_get(v, "ServerlessConfig");
        if (sc) {
            var->count = 1;
            var->memory_mb =
                (int)json_integer_value(json_object_get(sc, "MemorySizeInMB"));
            var->max_concurrency =
                (int)json_integer_value(json_object_get(sc, "MaxConcurrency"));
        }
        json_t *cenv = json_object_get(pc, "Environment");
        var->script = !b && jstr(cenv, "SAGEMAKER_PROGRAM");
        var->isolated =
            json_is_true(json_object_get(model, "EnableNetworkIsolation"));
        var->byo =
            !b && !var->script && jstr(pc, "Image") &&
            image_find(h->o.data_dir, jstr(pc, "Image"), &var->img, NULL) == 0;
        if (!b && !var->script && !var->byo) {
            rc = diag_set(d, KILN_EINVAL,
                          "The image of model %s (%s) is not a kiln "
                          "built-in algorithm and its Environment names no "
                          "entry point (SAGEMAKER_PROGRAM) and no image of "
                          "that name was loaded (`kiln admin images load`).",
                          jstr(model, "ModelName"), var->image);
            break;
        }
        str_copy(var->algo,
                 b             ? b->name
                 : var->script ? "script"
                               : "image",
                 sizeof(var->algo));
        if (!url || !str_starts(url, "s3://")) {
            rc = diag_set(d, KILN_EINVAL,
                          "Model %s has no s3:// ModelDataUrl to load.",
                          jstr(model, "ModelName"));
            break;
        }
        /* Fetch and unpack the model.tar.gz. */
        char bucket[64], tgz[700];
        const char *key;
        struct meta_bucket bk;
        if (objstore_uri_split(url, bucket, sizeof(bucket), &key) != 0 ||
            !*key) {
            rc = diag_set(d, KILN_EINVAL, "Bad ModelDataUrl %s", url);
            break;
        }
        if (meta_bucket_get(h->o.meta, bucket, &bk) != 0 ||
            strcmp(bk.account, account) != 0) {
            rc = diag_set(d, KILN_EINVAL,
                          "Could not access model data at %s: the bucket "
                          "does not exist or belongs to another account.",
                          url);
            break;
        }
        var->multi =
            jstr(pc, "Mode") && strcmp(jstr(pc, "Mode"), "MultiModel") == 0;
        if (var->multi && (var->script || var->byo)) {
            rc = diag_set(d, KILN_EINVAL,
                          "Multi-model endpoints serve kiln's built-in "
                          "algorithms only; model %s is a script.",
                          jstr(model, "ModelName"));
            break;
        }
        if (var->multi) {
            /* Models load when a request names them (load_model). */
            str_copy(var->mm_bucket, bucket, sizeof(var->mm_bucket));
            size_t kl = strlen(key);
            snprintf(var->mm_prefix, sizeof(var->mm_prefix), "%s%s", key,
                     kl && key[kl - 1] == '/' ? "" : "/");
            add_slots(var, MODELS_PER_INSTANCE * var->count);
            for (int k = 0; k < var->slots; k++)
                var->inst[k]->id = k + 1;
            continue;
        }
        if (var->script || var->byo) {
            snprintf(var->tree, sizeof(var->tree), "%s/%s-ml", f->dir,
                     var->name);
            mkdir(var->tree, 0700);
            snprintf(var->model_dir, sizeof(var->model_dir), "%.640s/model",
                     var->tree);
        } else {
            snprintf(var->model_dir, sizeof(var->model_dir), "%s/%s-model",
                     f->dir, var->name);
        }
        snprintf(tgz, sizeof(tgz), "%s/%s-model.tar.gz", f->dir, var->name);
        mkdir(var->model_dir, 0700);
        rc = objstore_link_object(h->o.store, bucket, key, tgz, d);
        if (rc && resume) {
            struct buf kp = BUF_INIT(4096);
            kept_path(h, account, name, var->name, &kp);
            if (link(buf_cstr(&kp), tgz) == 0)
                rc = 0;
            buf_release(&kp);
        }
        if (rc) {
            rc = diag_set(d, KILN_EINVAL, "Could not find model data at %s.",
                          url);
            break;
        }
        rc = artifact_extract(tgz, var->model_dir, MODEL_MAX, d);
        if (!rc && var->script)
            rc = script_code(h, account, var, cenv, d);
        if (!rc && var->byo) {
            const char *k;
            json_t *ev;
            json_object_foreach(cenv, k, ev)
            {
                if (json_is_string(ev))
                    strv_addf(&var->env, "%s=%s", k, json_string_value(ev));
            }
        }
        if (rc)
            break;
        add_slots(var, var->count);
        for (int k = 0; k < var->count && !rc; k++) {
            struct instance *in = var->inst[k];
            in->id = k + 1;
            /* Socket paths are short (108 bytes), so they live in a
             * private directory under /tmp, not in the data dir. */
            snprintf(in->sock, sizeof(in->sock), "%.40s/%u-%zu-%d.sock",
                     h->sockdir, gen, i, k + 1);
            in->idle = in->off = start >= 0 && k >= start;
            if (!in->off)
                rc = spawn_instance(h, var, in, d);
        }
    }
    /* Wait for the started instances' /ping. */
    for (size_t vi = 0; !rc && vi < f->nv; vi++)
        for (int k = 0; !rc && !f->v[vi].multi && k < f->v[vi].count; k++)
            if (!f->v[vi].inst[k]->off)
                rc = await_ready(h, &f->v[vi], f->v[vi].inst[k], d);
    if (rc) {
        /* What the model servers said is in the logs the failure points
         * to. */
        for (size_t vi = 0; vi < f->nv; vi++)
            for (int k = 0; !f->v[vi].multi && k < f->v[vi].slots; k++)
                drain_to(h, account, name, job, &f->v[vi], f->v[vi].inst[k]);
        stop_fleet(h, f);
        return rc;
    }
    *out = f;
    if (job)
        return 0;
    f->metered = tm_now();
    /* In service: its model files become the ones kept for it. */
    struct buf kp = BUF_INIT(4096), tgz = BUF_INIT(4096);
    kept_path(h, account, name, NULL, &kp);
    mkdir(buf_cstr(&kp), 0700);
    for (size_t vi = 0; vi < f->nv; vi++) {
        if (f->v[vi].multi)
            continue;
        kept_path(h, account, name, f->v[vi].name, &kp);
        buf_reset(&tgz);
        buf_addf(&tgz, "%s/%s-model.tar.gz", f->dir, f->v[vi].name);
        if (rename(buf_cstr(&tgz), buf_cstr(&kp)) != 0)
            log_warn("event=model_keep endpoint=%s variant=%s error=\"%s\"",
                     name, f->v[vi].name, strerror(errno));
    }
    buf_release(&kp);
    buf_release(&tgz);
    return 0;
}

/* ---- the endpoint document ----------------------------------------- */

static json_t *load_doc(struct hoster *h, const char *account, const char *name)
{
    char *body = NULL;
    json_t *doc = NULL;
    if (meta_res_get(h->o.meta, account, "endpoint", name, &body) == 0)
        doc = json_loads(body, 0, NULL);
    mem_free(body);
    return doc;
}

static void status_copy(json_t *doc, char *out, size_t size)
{
    const char *st = jstr(doc, "EndpointStatus");
    str_copy(out, st ? st : "", size);
}

/* Writes the record back unless its status is no longer `was`, the one
 * read before the operation: a DeleteEndpoint meanwhile marked it
 * Deleting, and it must stay so. */
static void save_doc(struct hoster *h, const char *account, json_t *doc,
                     const char *was)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    struct meta_res r = {.account = account,
                         .type = "endpoint",
                         .name = jstr(doc, "EndpointName"),
                         .status = jstr(doc, "EndpointStatus"),
                         .modified = tm_now(),
                         .body = body,
                         .expect = was};
    json_object_set_new(doc, "LastModifiedTime", json_real(r.modified));
    mem_free(body);
    body = json_dumps(doc, JSON_COMPACT);
    r.body = body;
    meta_res_save(h->o.meta, &r);
    mem_free(body);
}

static void describe_variants(json_t *doc, const struct fleet *f)
{
    json_t *list = json_array(), *shadows = json_array();
    double now = tm_now();
    for (size_t i = 0; i < f->nv; i++) {
        const struct variant *v = &f->v[i];
        json_t *o = json_object(), *img = json_object(), *imgs = json_array();
        json_object_set_new(o, "VariantName", json_string(v->name));
        json_object_set_new(img, "SpecifiedImage", json_string(v->image));
        json_object_set_new(img, "ResolvedImage", json_string(v->image));
        json_object_set_new(img, "ResolutionTime", json_real(now));
        json_array_append_new(imgs, img);
        json_object_set_new(o, "DeployedImages", imgs);
        json_object_set_new(o, "CurrentWeight", json_real(v->weight));
        json_object_set_new(o, "DesiredWeight", json_real(v->weight));
        if (v->max_concurrency) {
            json_t *sc = json_object();
            json_object_set_new(sc, "MemorySizeInMB",
                                json_integer(v->memory_mb));
            json_object_set_new(sc, "MaxConcurrency",
                                json_integer(v->max_concurrency));
            json_object_set(o, "CurrentServerlessConfig", sc);
            json_object_set_new(o, "DesiredServerlessConfig", sc);
        } else {
            json_object_set_new(o, "CurrentInstanceCount",
                                json_integer(v->count));
            json_object_set_new(o, "DesiredInstanceCount",
                                json_integer(v->count));
        }
        json_array_append_new(v->shadow ? shadows : list, o);
    }
    json_object_set_new(doc, "ProductionVariants", list);
    if (json_array_size(shadows))
        json_object_set(doc, "ShadowProductionVariants", shadows);
    else
        json_object_del(doc, "ShadowProductionVariants");
    json_decref(shadows);
}

/* DescribeEndpoint's DataCaptureConfig summary of a deployment. */
static void describe_capture(json_t *doc, json_t *dep)
{
    json_t *dcc = json_object_get(dep, "DataCaptureConfig");
    if (!dcc) {
        json_object_del(doc, "DataCaptureConfig");
        return;
    }
    json_t *o = json_object(), *e = json_object_get(dcc, "EnableCapture");
    bool on = !e || json_is_true(e);
    json_object_set_new(o, "EnableCapture", json_boolean(on));
    json_object_set_new(o, "CaptureStatus",
                        json_string(on ? "Started" : "Stopped"));
    json_object_set(o, "CurrentSamplingPercentage",
                    json_object_get(dcc, "InitialSamplingPercentage"));
    json_object_set(o, "DestinationS3Uri",
                    json_object_get(dcc, "DestinationS3Uri"));
    if (json_object_get(dcc, "KmsKeyId"))
        json_object_set(o, "KmsKeyId", json_object_get(dcc, "KmsKeyId"));
    json_object_set_new(doc, "DataCaptureConfig", o);
}

/* ---- lifecycle -------------------------------------------------------- */

static struct endpoint *find(struct hoster *h, const char *account,
                             const char *name)
{
    for (struct endpoint *e = h->eps; e; e = e->next)
        if (strcmp(e->account, account) == 0 && strcasecmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* Waits for the fleet's in-flight requests, then stops it. */
static void retire(struct hoster *h, struct fleet *f)
{
    for (;;) {
        pthread_mutex_lock(&h->lock);
        int refs = f ? f->refs : 0;
        pthread_mutex_unlock(&h->lock);
        if (refs == 0)
            break;
        usleep(2000);
    }
    stop_fleet(h, f);
}

static bool same_endpoint(const struct op *a, const struct op *b)
{
    return strcmp(a->account, b->account) == 0 &&
           strcasecmp(a->name, b->name) == 0;
}

/* Waits until every operation asked for earlier on the same endpoint is
 * done: a DeleteEndpoint while its fleet is still starting must not find
 * nothing to stop, and then have the fleet come up for no one. */
static void wait_turn(struct op *op)
{
    struct hoster *h = op->h;
    for (;;) {
        bool earlier = false;
        pthread_mutex_lock(&h->lock);
        for (const struct op *o = h->ops; o && !earlier; o = o->next)
            earlier =
                o != op && !o->done && o->seq < op->seq && same_endpoint(o, op);
        pthread_mutex_unlock(&h->lock);
        if (!earlier)
            return;
        usleep(2000);
    }
}

static void do_create(struct op *op)
{
    struct hoster *h = op->h;
    struct kiln_diag d = {0};
    struct fleet *f = NULL;
    json_t *doc = load_doc(h, op->account, op->name);
    char was[32];
    int rc;

    if (!doc)
        return;
    status_copy(doc, was, sizeof(was));
    rc = build_fleet(h, op->account, op->name,
                     json_object_get(doc, "KilnDeployment"),
                     op->kind == OP_RESUME, false, -1, -1, &f, &d);
    pthread_mutex_lock(&h->lock);
    struct endpoint *e = find(h, op->account, op->name);
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        str_copy(e->account, op->account, sizeof(e->account));
        str_copy(e->name, op->name, sizeof(e->name));
        e->next = h->eps;
        h->eps = e;
    }
    /* A create finds no fleet: the deletion before it stopped that. Were
     * one left, it is stopped rather than lost with its processes. */
    struct fleet *stale = e->fleet;
    e->fleet = rc ? NULL : f;
    e->in_service = rc == 0;
    e->busy = false;
    pthread_mutex_unlock(&h->lock);
    if (stale) {
        log_warn("event=fleet_replaced endpoint=%s", op->name);
        retire(h, stale);
    }
    if (rc) {
        json_object_set_new(doc, "EndpointStatus", json_string("Failed"));
        json_object_set_new(doc, "FailureReason", json_string(d.msg));
    } else {
        /* Back after a restart in the middle of an update: serving what
         * it served, still Updating until the update queued behind this
         * (resume_update) is done. */
        bool updating =
            op->kind == OP_RESUME && json_object_get(doc, "PendingDeployment");
        json_object_set_new(doc, "EndpointStatus",
                            json_string(updating ? "Updating" : "InService"));
        json_object_del(doc, "FailureReason");
        describe_variants(doc, f);
        describe_capture(doc, json_object_get(doc, "KilnDeployment"));
    }
    save_doc(h, op->account, doc, was);
    log_info("event=endpoint_%s endpoint=%s", rc ? "failed" : "in_service",
             op->name);
    json_decref(doc);
}

/*
 * How an update moves traffic (DeploymentConfig's BlueGreenUpdatePolicy):
 * the new fleet's share at each step, ending with all of it, `wait`
 * seconds after each step but the last, and `hold` seconds the old fleet
 * is kept after the last (ALL_AT_ONCE's baking period, then
 * TerminationWaitInSeconds) before it is stopped.
 */
struct shift {
    double share[100];
    int n;
    double wait;    /* after each step but the last */
    double bake;    /* after the last step, watching the alarms */
    double hold;    /* then the old fleet is kept this long */
    json_t *alarms; /* AutoRollbackConfiguration's (borrowed), or NULL */
};

static void plan_shift(json_t *dep, const struct fleet *f, struct shift *p)
{
    json_t *bg = json_object_get(json_object_get(dep, "DeploymentConfig"),
                                 "BlueGreenUpdatePolicy");
    json_t *tr = json_object_get(bg, "TrafficRoutingConfiguration");
    const char *type = jstr(tr, "Type") ? jstr(tr, "Type") : "ALL_AT_ONCE";
    bool canary = strcmp(type, "CANARY") == 0;
    bool linear = strcmp(type, "LINEAR") == 0;
    double wait = (double)json_integer_value(
        json_object_get(tr, "WaitIntervalInSeconds"));
    json_t *size =
        json_object_get(tr, canary ? "CanarySize" : "LinearStepSize");
    const char *unit = jstr(size, "Type");
    double value = (double)json_integer_value(json_object_get(size, "Value"));
    double instances = 0, step;

    for (size_t i = 0; i < f->nv; i++)
        if (!f->v[i].shadow)
            instances += f->v[i].count;
    step = unit && strcmp(unit, "CAPACITY_PERCENT") == 0
               ? value / 100
               : value / (instances > 0 ? instances : 1);
    p->n = 0;
    p->wait = wait;
    p->bake = canary || linear ? 0 : wait;
    p->hold = (double)json_integer_value(
        json_object_get(bg, "TerminationWaitInSeconds"));
    p->alarms = json_object_get(
        json_object_get(json_object_get(dep, "DeploymentConfig"),
                        "AutoRollbackConfiguration"),
        "Alarms");
    if ((canary || linear) && step > 0 && step < 1) {
        if (linear && step < 1.0 / 99)
            step = 1.0 / 99; /* at most 100 steps */
        for (double s = step; s < 1 - 1e-9 && p->n < 99; s += linear ? step : 1)
            p->share[p->n++] = s;
    }
    p->share[p->n++] = 1;
}

enum nap_end { NAP_DONE, NAP_CUT, NAP_ALARM };

/* Sleeps `seconds` unless the server stops or a DeleteEndpoint waits
 * behind op (NAP_CUT), or one of `alarms` (a JSON array of {"AlarmName"},
 * or NULL) is in ALARM (NAP_ALARM, its name in fired). */
static enum nap_end nap(struct op *op, double seconds, json_t *alarms,
                        char *fired, size_t size)
{
    struct hoster *h = op->h;
    double until = tm_now() + seconds, look = 0;
    while (tm_now() < until) {
        bool cut = false;
        pthread_mutex_lock(&h->lock);
        cut = h->stopping;
        for (const struct op *o = h->ops; o && !cut; o = o->next)
            cut = o->kind == OP_DELETE && o->seq > op->seq &&
                  same_endpoint(o, op);
        pthread_mutex_unlock(&h->lock);
        if (cut)
            return NAP_CUT;
        if (alarms && tm_now() >= look) {
            json_t *a;
            size_t i;
            look = tm_now() + 0.25;
            json_array_foreach(alarms, i, a)
            {
                const char *name = jstr(a, "AlarmName");
                if (name &&
                    cloudwatch_alarm_firing(h->o.meta, op->account, name)) {
                    str_copy(fired, name, size);
                    return NAP_ALARM;
                }
            }
        }
        usleep(20000);
    }
    return NAP_DONE;
}

/* Records how an update ended, and releases doc: f, the fleet now in
 * service, or NULL when the update failed or was rolled back (`fired`
 * names the alarm, or is "") with d saying why. */
static void updated(struct op *op, json_t *doc, json_t *pending,
                    const struct fleet *f, const char *fired,
                    struct kiln_diag *d, const char *was)
{
    if (fired[0]) {
        log_warn("event=rollback endpoint=%s alarm=%s", op->name, fired);
        diag_set(d, KILN_EINVAL,
                 "Rolled back: CloudWatch alarm %s went into ALARM during "
                 "the deployment (AutoRollbackConfiguration).",
                 fired);
    }
    if (f) {
        json_object_set(doc, "KilnDeployment", pending);
        json_object_set_new(doc, "EndpointConfigName",
                            json_string(jstr(pending, "EndpointConfigName")));
        json_object_del(doc, "FailureReason");
        describe_variants(doc, f);
        describe_capture(doc, pending);
    } else {
        char msg[1100];
        snprintf(msg, sizeof(msg),
                 "Failed to update the endpoint; it keeps serving its "
                 "previous configuration: %s",
                 d->msg);
        json_object_set_new(doc, "FailureReason", json_string(msg));
    }
    json_object_del(doc, "PendingDeployment");
    json_object_set_new(doc, "EndpointStatus", json_string("InService"));
    save_doc(op->h, op->account, doc, was);
    json_decref(doc);
}

static void roll(struct op *op, json_t *doc, json_t *pending, json_t *ru,
                 struct fleet *old, const char *was);
static bool same_variants(const struct fleet *f, json_t *dep);
static int rescale(struct hoster *h, struct fleet *f, json_t *dep,
                   struct kiln_diag *d);

static void do_update(struct op *op)
{
    struct hoster *h = op->h;
    struct kiln_diag d = {0};
    struct fleet *f = NULL, *old = NULL;
    json_t *doc = load_doc(h, op->account, op->name);
    char was[32];
    int rc;

    if (!doc)
        return;
    status_copy(doc, was, sizeof(was));
    json_t *pending = json_object_get(doc, "PendingDeployment");
    json_t *ru = json_object_get(json_object_get(pending, "DeploymentConfig"),
                                 "RollingUpdatePolicy");
    /* A rolling update needs a fleet of one variant to roll from; an
     * endpoint that failed has none, and is brought up all at once. */
    pthread_mutex_lock(&h->lock);
    struct endpoint *e = find(h, op->account, op->name);
    old = e ? e->fleet : NULL;
    bool rolls = ru && old && old->nv == 1 && !old->v[0].multi &&
                 json_array_size(json_object_get(pending, "Variants")) == 1;
    bool in_place =
        json_is_true(json_object_get(pending, HOSTING_CAPACITY_ONLY)) &&
        same_variants(old, pending);
    pthread_mutex_unlock(&h->lock);
    json_object_del(pending, HOSTING_CAPACITY_ONLY);
    if (rolls) {
        roll(op, doc, pending, ru, old, was);
        return;
    }
    if (in_place) {
        rc = rescale(h, old, pending, &d);
        pthread_mutex_lock(&h->lock);
        if ((e = find(h, op->account, op->name)))
            e->busy = false;
        pthread_mutex_unlock(&h->lock);
        updated(op, doc, pending, rc ? NULL : old, "", &d, was);
        return;
    }
    old = NULL;
    struct shift plan = {.n = 0};
    rc = build_fleet(h, op->account, op->name, pending, false, false, -1, -1,
                     &f, &d);
    if (!rc)
        plan_shift(pending, f, &plan);
    /* Canary or linear: the new fleet takes a growing share first. */
    char fired[256] = "";
    for (int i = 0; !rc && i < plan.n - 1; i++) {
        pthread_mutex_lock(&h->lock);
        struct endpoint *g = find(h, op->account, op->name);
        if (g) {
            g->green = f;
            g->green_share = plan.share[i];
        }
        pthread_mutex_unlock(&h->lock);
        log_info("event=traffic_shift endpoint=%s share=%.3f", op->name,
                 plan.share[i]);
        enum nap_end end =
            g ? nap(op, plan.wait, plan.alarms, fired, sizeof(fired)) : NAP_CUT;
        if (end == NAP_DONE)
            continue;
        /* Cut short or rolled back: the old fleet keeps all traffic. */
        pthread_mutex_lock(&h->lock);
        if ((g = find(h, op->account, op->name))) {
            g->green = NULL;
            g->busy = false;
        }
        pthread_mutex_unlock(&h->lock);
        retire(h, f);
        f = NULL;
        if (end == NAP_ALARM) {
            rc = KILN_EINVAL;
            break;
        }
        /* A DeleteEndpoint follows; after a shutdown the update runs
         * again at start. */
        json_decref(doc);
        return;
    }
    pthread_mutex_lock(&h->lock);
    e = find(h, op->account, op->name);
    if (!rc && e) {
        old = e->fleet;
        e->fleet = f;
        e->green = NULL;
        e->in_service = true;
    }
    if (e)
        e->busy = false;
    pthread_mutex_unlock(&h->lock);
    if (!rc && !e) {
        stop_fleet(h, f);
        rc = diag_set(&d, KILN_EINVAL, "the endpoint went away");
    }
    /* All traffic is on the new fleet: it bakes while the alarms are
     * watched, and the old fleet is kept a while. */
    enum nap_end baked = !rc && plan.bake > 0 ? nap(op, plan.bake, plan.alarms,
                                                    fired, sizeof(fired))
                                              : NAP_DONE;
    if (baked == NAP_ALARM) {
        bool back = false;
        pthread_mutex_lock(&h->lock);
        if ((e = find(h, op->account, op->name)) && e->fleet == f) {
            e->fleet = old;
            back = true;
        }
        pthread_mutex_unlock(&h->lock);
        if (back) {
            log_info("event=traffic_shift endpoint=%s share=0.000", op->name);
            retire(h, f);
            old = NULL;
        }
        f = NULL;
        rc = KILN_EINVAL;
    } else if (!rc && plan.hold > 0 && baked == NAP_DONE) {
        nap(op, plan.hold, NULL, NULL, 0);
    }
    updated(op, doc, pending, rc ? NULL : f, fired, &d, was);
    retire(h, old);
}

/* ---- rolling updates ------------------------------------------------- */

/* Instances of f's variant that take requests (active) or have a process
 * (running). h->lock held. */
static int active(const struct fleet *f)
{
    int n = 0;
    for (int k = 0; k < f->v[0].count; k++)
        n += !f->v[0].inst[k]->idle;
    return n;
}

static int running(const struct fleet *f)
{
    int n = 0;
    for (int k = 0; k < f->v[0].count; k++)
        n += !f->v[0].inst[k]->off;
    return n;
}

/* Requests go to the fleets in proportion to their active instances, as
 * SageMaker spreads them evenly over a variant's instances. h->lock held;
 * the endpoint may be gone (a deletion waits behind the update). */
static void rebalance(struct hoster *h, const struct op *op, struct fleet *old,
                      struct fleet *f)
{
    struct endpoint *e = find(h, op->account, op->name);
    int a = active(old), b = active(f);
    if (!e)
        return;
    e->green = f;
    e->green_share = a + b ? (double)b / (a + b) : 1;
    log_info("event=rolling_step endpoint=%s new=%d old=%d", op->name, b, a);
}

/* Stops instance `in` of f, a fleet in service: it takes no more
 * requests, those in it finish (for up to 5 s), then it exits. */
static void stop_instance(struct hoster *h, struct fleet *f,
                          struct instance *in)
{
    struct usageq *usage = NULL;
    double until = tm_now() + 5;
    int st;

    pthread_mutex_lock(&h->lock);
    in->idle = true;
    in->ready = false;
    while (__atomic_load_n(&in->busy, __ATOMIC_ACQUIRE) > 0 &&
           tm_now() < until) {
        pthread_mutex_unlock(&h->lock);
        usleep(2000);
        pthread_mutex_lock(&h->lock);
    }
    take_usage(f, tm_now(), &usage); /* metered up to now as it was */
    in->off = true;
    pthread_mutex_unlock(&h->lock);
    write_usage(h, usage);
    /* The monitor leaves an idle instance alone: its process is ours. */
    proc_signal(&in->proc, SIGTERM);
    until = tm_now() + 5;
    while (in->proc.pid > 0 &&
           proc_wait(&in->proc, true, &st) == KILN_CONTINUE && tm_now() < until)
        usleep(10000);
    proc_release(&in->proc);
    buf_reset(&in->pending);
    handles_forget(h, in->sock);
    if (!netns_pid(in->sock))
        unlink(in->sock);
}

/* Starts up to k of the instances of variant v of f that are off, f a
 * fleet in service; they take requests once they all answer /ping. 0, or
 * KILN_EINVAL with none of them left running. */
static int grow(struct hoster *h, struct fleet *f, struct variant *v, int k,
                struct kiln_diag *d)
{
    struct instance **picked = xcalloc((size_t)v->count, sizeof(*picked));
    struct usageq *usage = NULL;
    int n = 0, rc = 0;

    pthread_mutex_lock(&h->lock);
    take_usage(f, tm_now(), &usage);
    for (int i = 0; i < v->count && n < k; i++)
        if (v->inst[i]->off) {
            v->inst[i]->off = false;
            picked[n++] = v->inst[i];
        }
    pthread_mutex_unlock(&h->lock);
    write_usage(h, usage);
    for (int i = 0; i < n && !rc; i++)
        rc = spawn_instance(h, v, picked[i], d);
    for (int i = 0; i < n && !rc; i++)
        rc = await_ready(h, v, picked[i], d);
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < n && !rc; i++)
        picked[i]->idle = false;
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < n && rc; i++)
        stop_instance(h, f, picked[i]);
    mem_free(picked);
    return rc;
}

/* Takes up to k of f's active instances out of service (the last first);
 * they keep running until stopped. h->lock held. */
static void park(struct fleet *f, int k)
{
    for (int i = f->v[0].count - 1; i >= 0 && k > 0; i--) {
        struct instance *in = f->v[0].inst[i];
        if (!in->idle) {
            in->idle = true;
            in->ready = false;
            k--;
        }
    }
}

/* f's parked instances take requests again. h->lock held. */
static void unpark(struct fleet *f)
{
    for (int i = 0; i < f->v[0].count; i++) {
        struct instance *in = f->v[0].inst[i];
        if (in->idle && !in->off) {
            in->idle = false;
            in->ready = in->proc.pid > 0; /* else the monitor restarts it */
        }
    }
}

/* Stops f's parked instances (idle, still running). */
static void stop_parked(struct hoster *h, struct fleet *f)
{
    for (int i = 0; i < f->v[0].count; i++) {
        pthread_mutex_lock(&h->lock);
        struct instance *in = f->v[0].inst[i];
        bool parked = in->idle && !in->off;
        pthread_mutex_unlock(&h->lock);
        if (parked)
            stop_instance(h, f, in);
    }
}

/*
 * Rolls back a rolling update: the old fleet's parked instances take
 * requests again at once, then its stopped ones start `batch` at a time
 * (RollbackMaximumBatchSize) while as many of the new fleet's stop, within
 * the instances the update reserved. Ends with the old fleet in service
 * and the new one stopped; when the old one cannot start again, with as
 * much of it as runs.
 */
static void roll_back(struct op *op, struct fleet *old, struct fleet *f,
                      int batch)
{
    struct hoster *h = op->h;
    pthread_mutex_lock(&h->lock);
    unpark(old);
    rebalance(h, op, old, f);
    pthread_mutex_unlock(&h->lock);
    for (;;) {
        pthread_mutex_lock(&h->lock);
        int off = old->v[0].count - running(old);
        int fresh = running(f), has = running(old);
        int room = old->reserved + f->reserved - has - fresh;
        pthread_mutex_unlock(&h->lock);
        if (fresh == 0)
            break;
        int k = off < batch ? off : batch;
        if (k > room)
            k = room;
        struct kiln_diag d = {0};
        if (k > 0 && grow(h, old, &old->v[0], k, &d) != 0) {
            /* The monitor starts the rest, and restarts them while they
             * fail, as it does any instance in service. */
            log_warn("event=rollback_restart endpoint=%s reason=\"%s\"",
                     op->name, d.msg);
            pthread_mutex_lock(&h->lock);
            for (int i = 0; i < old->v[0].count; i++)
                if (old->v[0].inst[i]->off)
                    old->v[0].inst[i]->off = old->v[0].inst[i]->idle = false;
            pthread_mutex_unlock(&h->lock);
            k = off = 0;
        }
        /* As many new instances stop as old ones started; when there was
         * no room to start any, a batch stops first, keeping one in
         * service if the old fleet has none. */
        int stop = off == 0 ? fresh : k > 0 ? k : batch;
        if (k == 0 && off > 0 && has == 0 && stop >= fresh)
            stop = fresh - 1;
        pthread_mutex_lock(&h->lock);
        park(f, stop);
        rebalance(h, op, old, f);
        pthread_mutex_unlock(&h->lock);
        stop_parked(h, f);
    }
    pthread_mutex_lock(&h->lock);
    struct endpoint *e = find(h, op->account, op->name);
    if (e) {
        e->green = NULL;
        e->busy = false;
    }
    /* The reservation goes back to what the old fleet asks for. */
    int spare = old->reserved - old->v[0].count;
    old->reserved -= spare;
    f->reserved += spare;
    pthread_mutex_unlock(&h->lock);
    retire(h, f);
}

/*
 * A rolling update (RollingUpdatePolicy) of an endpoint of one variant.
 * Batch by batch (MaximumBatchSize), new instances start and take
 * requests, as many old ones stop taking them, and after
 * WaitIntervalInSeconds, the alarms watched, those old ones stop. So the
 * endpoint runs at most a batch more than its old fleet, or its new fleet
 * when that is larger (what the API reserved room for). An alarm, a batch
 * that does not start, or running past MaximumExecutionTimeoutInSeconds
 * rolls back. `old` is the fleet in service.
 */
static void roll(struct op *op, json_t *doc, json_t *pending, json_t *ru,
                 struct fleet *old, const char *was)
{
    struct hoster *h = op->h;
    struct kiln_diag d = {0};
    struct fleet *f = NULL;
    json_t *alarms = json_object_get(
        json_object_get(json_object_get(pending, "DeploymentConfig"),
                        "AutoRollbackConfiguration"),
        "Alarms");
    json_t *now = json_object_get(doc, "KilnDeployment");
    json_t *limit = json_object_get(ru, "MaximumExecutionTimeoutInSeconds");
    double wait = (double)json_integer_value(
        json_object_get(ru, "WaitIntervalInSeconds"));
    double deadline =
        limit ? tm_now() + (double)json_integer_value(limit) : INFINITY;
    int n = hosting_instances(pending);
    int batch =
        hosting_batch_instances(json_object_get(ru, "MaximumBatchSize"), n);
    int back = json_object_get(ru, "RollbackMaximumBatchSize")
                   ? hosting_batch_instances(
                         json_object_get(ru, "RollbackMaximumBatchSize"),
                         old->v[0].count)
                   : old->v[0].count;
    char fired[256] = "";
    int rc = build_fleet(h, op->account, op->name, pending, false, false, batch,
                         hosting_rolling_headroom(now, pending, ru), &f, &d);
    if (rc) {
        pthread_mutex_lock(&h->lock);
        struct endpoint *e = find(h, op->account, op->name);
        if (e)
            e->busy = false;
        pthread_mutex_unlock(&h->lock);
        updated(op, doc, pending, NULL, fired, &d, was);
        return;
    }
    for (;;) {
        /* The batch just started takes requests; as many old instances
         * stop taking them, and stop after the wait. */
        pthread_mutex_lock(&h->lock);
        park(old, batch);
        rebalance(h, op, old, f);
        pthread_mutex_unlock(&h->lock);
        double left = deadline - tm_now();
        enum nap_end end = nap(op,
                               wait < left ? wait
                               : left > 0  ? left
                                           : 0,
                               alarms, fired, sizeof(fired));
        if (end == NAP_CUT) {
            /* A DeleteEndpoint follows, or the server stops (and the
             * update runs again at start): the new fleet goes. */
            pthread_mutex_lock(&h->lock);
            struct endpoint *e = find(h, op->account, op->name);
            unpark(old);
            if (e) {
                e->green = NULL;
                e->busy = false;
            }
            pthread_mutex_unlock(&h->lock);
            retire(h, f);
            json_decref(doc);
            return;
        }
        if (end == NAP_DONE && tm_now() >= deadline) {
            pthread_mutex_lock(&h->lock);
            bool done = running(f) == n && active(old) == 0;
            pthread_mutex_unlock(&h->lock);
            if (!done)
                rc = diag_set(&d, KILN_EINVAL,
                              "The rolling deployment did not finish within "
                              "MaximumExecutionTimeoutInSeconds (%lld "
                              "seconds).",
                              (long long)json_integer_value(limit));
        }
        if (end == NAP_ALARM)
            rc = KILN_EINVAL;
        if (rc)
            break;
        stop_parked(h, old);
        pthread_mutex_lock(&h->lock);
        int more = n - running(f), left_old = active(old);
        pthread_mutex_unlock(&h->lock);
        if (more == 0 && left_old == 0)
            break;
        if (more > 0 &&
            (rc = grow(h, f, &f->v[0], more < batch ? more : batch, &d)))
            break;
    }
    if (rc) {
        log_warn("event=rolling_rollback endpoint=%s", op->name);
        roll_back(op, old, f, back);
        updated(op, doc, pending, NULL, fired, &d, was);
        return;
    }
    pthread_mutex_lock(&h->lock);
    struct endpoint *e = find(h, op->account, op->name);
    if (e) {
        e->fleet = f;
        e->green = NULL;
        e->in_service = true;
        e->busy = false;
    }
    /* The reservation comes down to what the new fleet asks for. */
    int spare = f->reserved - n;
    f->reserved -= spare;
    old->reserved += spare;
    pthread_mutex_unlock(&h->lock);
    if (!e) { /* cannot happen: a deletion waits behind the update */
        retire(h, f);
        f = NULL;
        rc = diag_set(&d, KILN_EINVAL, "the endpoint went away");
    }
    updated(op, doc, pending, f, fired, &d, was);
    retire(h, old);
}

/* ---- capacity changes in place --------------------------------------- */

/* Adds instances to variant vi of f, a fleet in service, up to n:
 * counted against the server's limit, started, and taking requests once
 * they answer /ping. */
static int widen(struct hoster *h, struct fleet *f, size_t vi, int n,
                 struct kiln_diag *d)
{
    struct variant *v = &f->v[vi];
    pthread_mutex_lock(&h->lock);
    int more = n - v->count, rc = room(h, more, d);
    if (!rc) {
        h->instances += more;
        f->reserved += more;
        if (v->slots < n) {
            int from = v->slots;
            add_slots(v, n - v->slots);
            for (int k = from; k < n; k++) {
                struct instance *in = v->inst[k];
                in->id = k + 1;
                snprintf(in->sock, sizeof(in->sock), "%.40s/%u-%zu-%d.sock",
                         h->sockdir, f->gen, vi, k + 1);
                in->idle = in->off = true;
            }
        }
        v->count = n;
    }
    pthread_mutex_unlock(&h->lock);
    if (!rc && (rc = grow(h, f, v, more, d))) {
        pthread_mutex_lock(&h->lock);
        v->count -= more;
        h->instances -= more;
        f->reserved -= more;
        pthread_mutex_unlock(&h->lock);
    }
    return rc;
}

/* Takes variant v of f, a fleet in service, down to n instances: the last
 * ones stop once the requests in them are done. */
static void narrow(struct hoster *h, struct fleet *f, struct variant *v, int n)
{
    for (int k = v->count - 1; k >= n; k--) {
        pthread_mutex_lock(&h->lock);
        struct instance *in = v->inst[k];
        pthread_mutex_unlock(&h->lock);
        stop_instance(h, f, in);
    }
    pthread_mutex_lock(&h->lock);
    int fewer = v->count - n;
    v->count = n;
    h->instances -= fewer;
    f->reserved -= fewer;
    pthread_mutex_unlock(&h->lock);
}

/* Whether fleet f has the variants of deployment dep, in order, each with
 * instances of its own (not multi-model). */
static bool same_variants(const struct fleet *f, json_t *dep)
{
    json_t *vs = json_object_get(dep, "Variants");
    if (!f || json_array_size(vs) != f->nv)
        return false;
    for (size_t i = 0; i < f->nv; i++)
        if (f->v[i].multi ||
            strcmp(f->v[i].name,
                   jstr(json_array_get(vs, i), "VariantName")
                       ? jstr(json_array_get(vs, i), "VariantName")
                       : "") != 0)
            return false;
    return true;
}

/*
 * UpdateEndpointWeightsAndCapacities (and so autoscaling) as SageMaker
 * does it: in place. The fleet in service gains or loses instances
 * (those it keeps serve throughout), then the weights change at once. A
 * variant that cannot grow leaves every count as it was.
 */
static int rescale(struct hoster *h, struct fleet *f, json_t *dep,
                   struct kiln_diag *d)
{
    json_t *vs = json_object_get(dep, "Variants");
    int *was = xcalloc(f->nv, sizeof(*was)), rc = 0;
    size_t i;

    for (i = 0; i < f->nv; i++)
        was[i] = f->v[i].count;
    /* Growing may fail (no room, a model server that does not start);
     * shrinking cannot, so it comes after. */
    for (i = 0; i < f->nv && !rc; i++) {
        json_int_t n = json_integer_value(
            json_object_get(json_array_get(vs, i), "InitialInstanceCount"));
        if (!f->v[i].max_concurrency && n > f->v[i].count && n <= INT_MAX)
            rc = widen(h, f, i, (int)n, d);
    }
    for (size_t j = 0; rc && j < f->nv; j++)
        if (f->v[j].count > was[j])
            narrow(h, f, &f->v[j], was[j]);
    for (i = 0; i < f->nv && !rc; i++) {
        json_int_t n = json_integer_value(
            json_object_get(json_array_get(vs, i), "InitialInstanceCount"));
        if (!f->v[i].max_concurrency && n >= 1 && n < f->v[i].count)
            narrow(h, f, &f->v[i], (int)n);
    }
    pthread_mutex_lock(&h->lock);
    for (i = 0; i < f->nv && !rc; i++)
        f->v[i].weight = json_number_value(
            json_object_get(json_array_get(vs, i), "InitialVariantWeight"));
    pthread_mutex_unlock(&h->lock);
    mem_free(was);
    return rc;
}

static void do_delete(struct op *op)
{
    struct hoster *h = op->h;
    struct fleet *f = NULL;

    pthread_mutex_lock(&h->lock);
    for (struct endpoint **pp = &h->eps; *pp; pp = &(*pp)->next) {
        struct endpoint *e = *pp;
        if (strcmp(e->account, op->account) == 0 &&
            strcasecmp(e->name, op->name) == 0) {
            f = e->fleet;
            *pp = e->next;
            mem_free(e);
            break;
        }
    }
    pthread_mutex_unlock(&h->lock);
    retire(h, f);
    kept_forget(h, op->account, op->name);
    meta_res_delete(h->o.meta, op->account, "endpoint", op->name);
    log_info("event=endpoint_deleted endpoint=%s", op->name);
}

static void *op_thread(void *arg)
{
    struct op *op = arg;
    wait_turn(op);
    if (op->kind == OP_CREATE || op->kind == OP_RESUME)
        do_create(op);
    else if (op->kind == OP_UPDATE)
        do_update(op);
    else
        do_delete(op);
    pthread_mutex_lock(&op->h->lock);
    op->done = true;
    pthread_mutex_unlock(&op->h->lock);
    return NULL;
}

static void reap_ops(struct hoster *h)
{
    struct op **pp = &h->ops;
    while (*pp) {
        struct op *o = *pp;
        if (o->done) {
            pthread_join(o->thread, NULL);
            *pp = o->next;
            mem_free(o);
        } else {
            pp = &o->next;
        }
    }
}

static int launch(struct hoster *h, const char *account, const char *name,
                  int kind)
{
    struct op *op = xcalloc(1, sizeof(*op));
    int rc = 0;

    op->h = h;
    op->kind = kind;
    str_copy(op->account, account, sizeof(op->account));
    str_copy(op->name, name, sizeof(op->name));
    pthread_mutex_lock(&h->lock);
    reap_ops(h);
    op->seq = ++h->opseq;
    struct endpoint *e = find(h, account, name);
    if (!e && (kind == OP_CREATE || kind == OP_RESUME)) {
        /* Known at once, so calls get ServiceUnavailable (retried by the
         * SDKs) rather than "not found" while the fleet starts. */
        e = xcalloc(1, sizeof(*e));
        str_copy(e->account, account, sizeof(e->account));
        str_copy(e->name, name, sizeof(e->name));
        e->next = h->eps;
        h->eps = e;
    }
    if (e && kind != OP_DELETE)
        e->busy = true;
    if (h->closing || pthread_create(&op->thread, NULL, op_thread, op)) {
        mem_free(op);
        rc = KILN_EUNAVAILABLE;
    } else {
        op->next = h->ops;
        h->ops = op;
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int hoster_endpoint_create(void *h, const char *account, const char *name)
{
    return launch(h, account, name, OP_CREATE);
}

int hoster_endpoint_update(void *h, const char *account, const char *name)
{
    return launch(h, account, name, OP_UPDATE);
}

int hoster_endpoint_delete(void *h, const char *account, const char *name)
{
    return launch(h, account, name, OP_DELETE);
}

/* ---- monitor: logs, health, restarts ----------------------------------- */

static void drain(struct hoster *h, const struct endpoint *e,
                  const struct variant *v, struct instance *in)
{
    drain_to(h, e->account, e->name, e->job, v, in);
}

/* The endpoint the monitor watches after e (the first for NULL): every
 * endpoint, then every transform job's fleet. */
static struct endpoint *watched(struct hoster *h, struct endpoint *e)
{
    if (!e)
        return h->eps ? h->eps : h->jobs;
    return e->next ? e->next : e->job ? NULL : h->jobs;
}

static void *monitor(void *arg)
{
    struct hoster *h = arg;
    /* Instances to health-check this round: pinged without the lock (a
     * hung model server must not stall invocations), each holding a
     * reference on its fleet so an update cannot free it meanwhile. */
    struct {
        struct fleet *f;
        struct instance *in;
        char sock[108];
    } checks[64];
    for (;;) {
        struct flush *due = NULL;
        struct statq *stats = NULL;
        size_t nchecks = 0;
        pthread_mutex_lock(&h->lock);
        run_spawns(h);
        bool stats_due = tm_now() - h->stats_flushed >= STATS_FLUSH_SECONDS;
        if (stats_due)
            h->stats_flushed = tm_now();
        struct usageq *usage = NULL;
        double now = tm_now();
        bool usage_due = now - h->usage_flushed >= USAGE_FLUSH_SECONDS;
        if (usage_due)
            h->usage_flushed = now;
        if (h->closing) {
            pthread_mutex_unlock(&h->lock);
            break;
        }
        /* The fleet in service, and one traffic is shifting to; and the
         * transform jobs' fleets. */
        for (struct endpoint *e = watched(h, NULL); e; e = watched(h, e))
            for (int fi = 0; fi < 2; fi++) {
                struct fleet *f = fi ? e->green : e->fleet;
                if (f && usage_due)
                    take_usage(f, now, &usage);
                for (size_t i = 0; f && i < f->nv; i++) {
                    take_capture(f, &f->v[i], false, &due);
                    if (stats_due && !e->job)
                        take_stats(f, &f->v[i], &stats);
                    for (int k = 0; k < f->v[i].slots; k++) {
                        struct instance *in = f->v[i].inst[k];
                        int st;
                        /* A free slot, or one its loader still owns; an
                         * instance a rolling update starts or stops. */
                        if ((f->v[i].multi &&
                             (!in->target[0] || in->loading)) ||
                            in->idle)
                            continue;
                        if (in->proc.out_fd >= 0)
                            drain(h, e, &f->v[i], in);
                        if (in->proc.pid > 0 &&
                            proc_wait(&in->proc, true, &st) == KILN_CONTINUE) {
                            if (!in->ready &&
                                nchecks < KILN_ARRAY_LEN(checks)) {
                                checks[nchecks].f = f;
                                checks[nchecks].in = in;
                                str_copy(checks[nchecks].sock, in->sock,
                                         sizeof(checks[nchecks].sock));
                                f->refs++;
                                nchecks++;
                            }
                            continue;
                        }
                        /* The instance died: start it again. */
                        in->ready = false;
                        proc_release(&in->proc);
                        in->restarts++;
                        log_warn(
                            "event=instance_restart endpoint=%s variant=%s "
                            "instance=%d",
                            e->name, f->v[i].name, in->id);
                        start_instance(h, &f->v[i], in, NULL);
                    }
                }
            }
        if (due || nchecks || stats || usage) {
            pthread_mutex_unlock(&h->lock);
            write_capture(h, due);
            write_stats(h, stats);
            write_usage(h, usage);
            for (size_t i = 0; i < nchecks; i++) {
                bool ok = ping(h, checks[i].sock);
                pthread_mutex_lock(&h->lock);
                struct instance *in = checks[i].in;
                if (ok && !in->idle && in->proc.pid > 0 &&
                    strcmp(in->sock, checks[i].sock) == 0)
                    in->ready = true;
                checks[i].f->refs--;
                pthread_mutex_unlock(&h->lock);
            }
            pthread_mutex_lock(&h->lock);
        }
        /* Sleep 50 ms, or until a spawn is requested. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!h->spawnq)
            pthread_cond_timedwait(&h->wake, &h->lock, &until);
        pthread_mutex_unlock(&h->lock);
    }
    return NULL;
}

/* ---- invocation ------------------------------------------------------- */

/* Picks a ready instance of v round-robin; copies its socket path. */
static struct instance *pick(struct variant *v, char *sock, size_t size)
{
    for (int tries = 0; tries < v->count; tries++) {
        struct instance *in = v->inst[v->rr++ % (unsigned)v->count];
        if (in->ready) {
            str_copy(sock, in->sock, size);
            return in;
        }
    }
    return NULL;
}

/* Sends req to a ready instance of v (or to `only`, a multi-model
 * variant's slot): 0 with the answer in *resp, or KILN_EUNAVAILABLE. v's
 * fleet is held by the caller. */
static int call_variant(struct hoster *h, struct variant *v,
                        struct instance *only, const struct invoke_req *req,
                        struct invoke_resp *resp)
{
    /* Try ready instances; one that cannot be reached is marked down (the
     * monitor restarts it) and the next is tried, for up to 5 s, so a
     * crashing instance costs no failed call while another answers. */
    int rc = KILN_EUNAVAILABLE;
    double deadline = tm_now() + 5;
    long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : INVOKE_TIMEOUT_MS;
    struct sink s = {&resp->body, resp->content_type,
                     sizeof(resp->content_type), resp->custom_attributes,
                     sizeof(resp->custom_attributes)};
    for (;;) {
        char sock[108] = "";
        pthread_mutex_lock(&h->lock);
        struct instance *in = only ? only : pick(v, sock, sizeof(sock));
        if (only && only->ready)
            str_copy(sock, only->sock, sizeof(sock));
        else if (only)
            in = NULL;
        /* A slot's requests are counted by its loader, under the lock;
         * an instance's atomically, so the answer takes no lock. */
        if (in && !only)
            __atomic_add_fetch(&in->busy, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&h->lock);
        if (in) {
            resp->content_type[0] = resp->custom_attributes[0] = '\0';
            buf_reset(&resp->body);
            CURL *c = handle_get(h, sock);
            int r = c ? call(c, sock, "POST", "/invocations", req, &s,
                             timeout_ms, &resp->status)
                      : -1;
            handle_put(h, sock, c);
            if (!only)
                __atomic_sub_fetch(&in->busy, 1, __ATOMIC_RELEASE);
            if (r == 0) {
                rc = 0;
                break;
            }
            if (r == -3)
                break;
            if (r == -2) {
                resp->status = 504;
                buf_reset(&resp->body);
                buf_addf(&resp->body,
                         "The model did not answer within %ld seconds.",
                         timeout_ms / 1000);
                rc = 0;
                break;
            }
            pthread_mutex_lock(&h->lock);
            if (strcmp(in->sock, sock) == 0)
                in->ready = false;
            pthread_mutex_unlock(&h->lock);
            continue;
        }
        if (tm_now() > deadline)
            break;
        usleep(5000);
    }
    return rc;
}

/* ---- multi-model variants ------------------------------------------- */

/* Stops the model server of a slot that was taken out of it (a copy). */
static void unload(struct hoster *h, struct instance *gone)
{
    double until = tm_now() + 5;
    int st;
    proc_signal(&gone->proc, SIGTERM);
    while (gone->proc.pid > 0 &&
           proc_wait(&gone->proc, true, &st) == KILN_CONTINUE &&
           tm_now() < until)
        usleep(10000);
    proc_release(&gone->proc);
    handles_forget(h, gone->sock);
    unlink(gone->sock);
    fsx_remove_tree(gone->model_dir);
}

static int no_model(const struct variant *v, const char *target,
                    struct kiln_diag *d)
{
    return diag_set(d, KILN_EVALIDATION,
                    "Failed to download model data (bucket: %s, key: "
                    "%.900s%.200s) for TargetModel %.200s: there is no object "
                    "at that URL.",
                    v->mm_bucket, v->mm_prefix, target, target);
}

static int exists(void *ctx, const struct meta_object *o)
{
    (void)o;
    *(bool *)ctx = true;
    return 0;
}

/* Fetches and unpacks slot's model and starts its model server, as
 * build_fleet does an instance's. The caller owns the slot (loading). */
static int load_model(struct hoster *h, struct fleet *f, struct variant *v,
                      struct instance *slot, struct kiln_diag *d)
{
    struct buf key = BUF_INIT(4096), tgz = BUF_INIT(4096);
    int rc, st;

    buf_addf(&key, "%s%s", v->mm_prefix, slot->target);
    buf_addf(&tgz, "%s.tar.gz", slot->model_dir);
    mkdir(slot->model_dir, 0700);
    rc = objstore_link_object(h->o.store, v->mm_bucket, buf_cstr(&key),
                              buf_cstr(&tgz), d);
    if (rc)
        rc = no_model(v, slot->target, d);
    if (!rc)
        rc = artifact_extract(buf_cstr(&tgz), slot->model_dir, MODEL_MAX, d);
    unlink(buf_cstr(&tgz));
    if (!rc)
        rc = spawn_instance(h, v, slot, d);
    double until = tm_now() + START_TIMEOUT;
    while (!rc && !ping(h, slot->sock)) {
        if (proc_wait(&slot->proc, true, &st) == 0)
            rc = diag_set(d, KILN_EVALIDATION,
                          "The model server for TargetModel %.200s exited "
                          "with status %d while loading; check the "
                          "endpoint's logs.",
                          slot->target, st);
        else if (tm_now() > until)
            rc = diag_set(d, KILN_EUNAVAILABLE,
                          "The model server for TargetModel %.200s did not "
                          "pass its /ping health check within %.0f seconds.",
                          slot->target, START_TIMEOUT);
        else
            usleep(5000);
    }
    buf_release(&key);
    buf_release(&tgz);
    (void)f;
    return rc;
}

/* The slot of v serving `target`, loaded first if need be (in a free
 * slot, or in place of the least recently used idle one), with this
 * request counted in it; NULL with the error in d. */
static struct instance *model_slot(struct hoster *h, struct fleet *f,
                                   struct variant *v, const char *target,
                                   struct kiln_diag *d)
{
    double deadline = tm_now() + START_TIMEOUT;
    struct buf key = BUF_INIT(4096);
    bool found = false;

    /* A model that is not there must not unload one that is. */
    buf_addf(&key, "%s%s", v->mm_prefix, target);
    meta_object_get(h->o.meta, v->mm_bucket, buf_cstr(&key), exists, &found);
    buf_release(&key);
    if (!found) {
        no_model(v, target, d);
        return NULL;
    }
    for (;;) {
        struct instance *in = NULL, *free_slot = NULL, *lru = NULL;
        pthread_mutex_lock(&h->lock);
        for (int k = 0; k < v->slots; k++) {
            struct instance *s = v->inst[k];
            if (!s->target[0]) {
                if (!free_slot)
                    free_slot = s;
            } else if (strcmp(s->target, target) == 0) {
                in = s;
            } else if (!s->loading && s->busy == 0 &&
                       (!lru || s->used < lru->used)) {
                lru = s;
            }
        }
        if (in && !in->loading) {
            in->busy++;
            in->used = tm_now();
            pthread_mutex_unlock(&h->lock);
            return in;
        }
        struct instance *slot = in ? NULL : free_slot ? free_slot : lru;
        if (!slot) { /* loading elsewhere, or every slot busy */
            pthread_mutex_unlock(&h->lock);
            if (tm_now() > deadline) {
                diag_set(d, KILN_EUNAVAILABLE,
                         "Variant %s could not load TargetModel %.200s: all "
                         "its %d model slots are busy.",
                         v->name, target, v->slots);
                return NULL;
            }
            usleep(5000);
            continue;
        }
        struct instance gone;
        bool evict = slot->target[0] != '\0';
        if (evict) {
            gone = *slot;
            log_info("event=model_unloaded endpoint=%s variant=%s "
                     "target=\"%s\"",
                     f->endpoint, v->name, slot->target);
        }
        unsigned gen = ++h->seq;
        str_copy(slot->target, target, sizeof(slot->target));
        slot->loading = true;
        slot->ready = false;
        slot->busy = 0;
        proc_init(&slot->proc);
        buf_reset(&slot->pending);
        snprintf(slot->sock, sizeof(slot->sock), "%.40s/mm-%u.sock", h->sockdir,
                 gen);
        snprintf(slot->model_dir, sizeof(slot->model_dir), "%s/%s-mm-%u",
                 f->dir, v->name, gen);
        pthread_mutex_unlock(&h->lock);
        if (evict)
            unload(h, &gone);

        int rc = load_model(h, f, v, slot, d);
        pthread_mutex_lock(&h->lock);
        slot->loading = false;
        if (rc) {
            gone = *slot;
            slot->target[0] = '\0';
            proc_init(&slot->proc);
            pthread_mutex_unlock(&h->lock);
            unload(h, &gone);
            return NULL;
        }
        slot->ready = true;
        slot->busy++;
        slot->used = tm_now();
        pthread_mutex_unlock(&h->lock);
        log_info("event=model_loaded endpoint=%s variant=%s target=\"%s\"",
                 f->endpoint, v->name, target);
        return slot;
    }
}

/* ---- shadow variants ------------------------------------------------- */

/* Copies waiting for their shadow variant: past these bounds a copy is
 * dropped, so a slow shadow never holds up the variants that answer. */
#define MIRROR_MAX       256
#define MIRROR_BYTES_MAX ((size_t)64 << 20)

struct mirror {
    struct fleet *f; /* a reference held */
    struct variant *v;
    char *content_type, *accept, *custom_attributes, *inference_id;
    char *body;
    size_t len;
    struct mirror *next;
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void mirror_free(struct mirror *m)
{
    mem_free(m->content_type);
    mem_free(m->accept);
    mem_free(m->custom_attributes);
    mem_free(m->inference_id);
    mem_free(m->body);
    mem_free(m);
}

/* The share of `served`'s requests shadow s gets copies of, in percent:
 * the ratio of their weights, as SageMaker samples shadow traffic. */
static unsigned shadow_share(const struct variant *s,
                             const struct variant *served)
{
    if (served->weight <= 0)
        return s->weight > 0 ? 100 : 0;
    double pct = 100.0 * s->weight / served->weight + 0.5;
    return pct >= 100 ? 100 : (unsigned)pct;
}

/* Queues copies of req, which `served` answered, for the shadow variants
 * of f whose share it falls in. The caller holds a reference on f. */
static void mirror(struct hoster *h, struct fleet *f,
                   const struct variant *served, const struct invoke_req *req)
{
    struct variant *picked[16];
    size_t n = 0;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < f->nv && n < KILN_ARRAY_LEN(picked); i++) {
        struct variant *s = &f->v[i];
        if (!s->shadow)
            continue;
        s->shadow_acc += shadow_share(s, served);
        if (s->shadow_acc < 100)
            continue;
        s->shadow_acc -= 100;
        if (h->closing || h->nmirrors >= MIRROR_MAX ||
            h->mirror_bytes + req->len > MIRROR_BYTES_MAX) {
            log_debug("event=shadow_dropped endpoint=%s variant=%s",
                      f->endpoint, s->name);
            continue;
        }
        h->nmirrors++;
        h->mirror_bytes += req->len;
        f->refs++;
        picked[n++] = s;
    }
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < n; i++) {
        struct mirror *m = xcalloc(1, sizeof(*m));
        m->f = f;
        m->v = picked[i];
        m->content_type = dup_or_null(req->content_type);
        m->accept = dup_or_null(req->accept);
        m->custom_attributes = dup_or_null(req->custom_attributes);
        m->inference_id = dup_or_null(req->inference_id);
        m->body = xmalloc(req->len + 1);
        memcpy(m->body, req->body, req->len);
        m->len = req->len;
        pthread_mutex_lock(&h->lock);
        *h->mirrors_tail = m;
        h->mirrors_tail = &m->next;
        pthread_cond_signal(&h->mirror_wake);
        pthread_mutex_unlock(&h->lock);
    }
}

/* Sends each copy to its shadow variant; what it answers goes to data
 * capture (under the shadow's name), never to a client. */
static void *mirror_thread(void *arg)
{
    struct hoster *h = arg;

    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->mirrors && !h->closing)
            pthread_cond_wait(&h->mirror_wake, &h->lock);
        struct mirror *m = h->mirrors;
        if (!m)
            break;
        h->mirrors = m->next;
        if (!h->mirrors)
            h->mirrors_tail = &h->mirrors;
        bool closing = h->closing;
        pthread_mutex_unlock(&h->lock);
        if (!closing) {
            struct invoke_req req = {.content_type = m->content_type,
                                     .accept = m->accept,
                                     .custom_attributes = m->custom_attributes,
                                     .inference_id = m->inference_id,
                                     .body = m->body,
                                     .len = m->len};
            struct invoke_resp resp = {.body = BUF_INIT(64u << 20)};
            int rc = call_variant(h, m->v, NULL, &req, &resp);
            log_debug("event=shadow endpoint=%s variant=%s status=%d",
                      m->f->endpoint, m->v->name, rc ? -1 : resp.status);
            if (!rc && m->f->cap.on && resp.status >= 200 &&
                resp.status < 300) {
                str_copy(resp.variant, m->v->name, sizeof(resp.variant));
                capture(h, m->f, m->v, &req, &resp);
            }
            buf_release(&resp.body);
        }
        pthread_mutex_lock(&h->lock);
        h->nmirrors--;
        h->mirror_bytes -= m->len;
        m->f->refs--;
        mirror_free(m);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

bool hoster_serving(struct hoster *h, const char *account, const char *name)
{
    pthread_mutex_lock(&h->lock);
    struct endpoint *e = find(h, account, name);
    bool serving = e && e->fleet;
    pthread_mutex_unlock(&h->lock);
    return serving;
}

int hoster_invoke(struct hoster *h, const char *account, const char *name,
                  const struct invoke_req *req, struct invoke_resp *resp,
                  struct kiln_diag *d)
{
    struct fleet *f;
    struct variant *v = NULL;

    pthread_mutex_lock(&h->lock);
    struct endpoint *e = find(h, account, name);
    if (!e || !e->fleet) {
        pthread_mutex_unlock(&h->lock);
        return e ? diag_set(d, KILN_EUNAVAILABLE,
                            "Endpoint %s of account %s is not ready to "
                            "serve.",
                            name, account)
                 : KILN_ENOTFOUND;
    }
    f = e->fleet;
    if (e->green &&
        (double)rand_r(&h->rng) / ((double)RAND_MAX + 1) < e->green_share)
        f = e->green;
    if (req->async != f->async) {
        pthread_mutex_unlock(&h->lock);
        return diag_set(d, KILN_EVALIDATION,
                        req->async ? "Endpoint %s of account %s is not "
                                     "configured for asynchronous inference "
                                     "(AsyncInferenceConfig); use "
                                     "InvokeEndpoint."
                                   : "Endpoint %s of account %s is an "
                                     "asynchronous inference endpoint; use "
                                     "InvokeEndpointAsync.",
                        name, account);
    }
    if (req->target_variant) {
        for (size_t i = 0; i < f->nv; i++)
            if (strcmp(f->v[i].name, req->target_variant) == 0 &&
                !f->v[i].shadow)
                v = &f->v[i];
        if (!v) {
            pthread_mutex_unlock(&h->lock);
            return diag_set(d, KILN_EVALIDATION,
                            "The variant %.64s is not a production variant "
                            "of endpoint %s.",
                            req->target_variant, name);
        }
    } else {
        double total = 0, r;
        struct variant *last = NULL;
        for (size_t i = 0; i < f->nv; i++)
            if (!f->v[i].shadow)
                total += f->v[i].weight;
        /* r in [0, total): a variant of weight 0 is never picked. */
        r = ((double)rand_r(&h->rng) / ((double)RAND_MAX + 1)) * total;
        for (size_t i = 0; i < f->nv && !v; i++) {
            if (f->v[i].shadow)
                continue;
            if (r < f->v[i].weight)
                v = &f->v[i];
            r -= f->v[i].weight;
            last = &f->v[i];
        }
        if (!v)
            v = last;
    }
    if (!v->multi != !req->target_model) {
        pthread_mutex_unlock(&h->lock);
        return diag_set(d, KILN_EVALIDATION,
                        v->multi ? "Endpoint %s is a multi-model endpoint: "
                                   "name the model to invoke in TargetModel."
                                 : "Endpoint %s is not a multi-model endpoint "
                                   "and does not support target model header.",
                        name);
    }
    if (v->max_concurrency && v->inflight >= v->max_concurrency) {
        pthread_mutex_unlock(&h->lock);
        return diag_set(d, KILN_ELIMIT,
                        "Variant %s of endpoint %s is serving its "
                        "MaxConcurrency of %d requests; retry later.",
                        v->name, name, v->max_concurrency);
    }
    v->inflight++;
    f->refs++;
    str_copy(resp->variant, v->name, sizeof(resp->variant));
    pthread_mutex_unlock(&h->lock);

    int rc;
    double began = tm_monotonic();
    if (v->multi) {
        struct instance *slot = model_slot(h, f, v, req->target_model, d);
        rc = slot ? call_variant(h, v, slot, req, resp) : d->code;
        if (slot) {
            pthread_mutex_lock(&h->lock);
            slot->busy--;
            pthread_mutex_unlock(&h->lock);
        }
    } else {
        rc = call_variant(h, v, NULL, req, resp);
    }
    if (rc == KILN_EUNAVAILABLE && !d->msg[0])
        diag_set(d, KILN_EUNAVAILABLE,
                 "No instance of variant %s of endpoint %s is available.",
                 v->name, name);
    else if (f->cap.on && resp->status >= 200 && resp->status < 300)
        capture(h, f, v, req, resp);
    if (!rc && f->shadows)
        mirror(h, f, v, req);
    double model_us = (tm_monotonic() - began) * 1e6, overhead_us = -1;
    if (req->start_ns > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        overhead_us = (double)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec -
                               req->start_ns) /
                          1e3 -
                      model_us;
    }
    pthread_mutex_lock(&h->lock);
    if (!rc)
        count_invocation(&v->stats, resp->status, model_us, overhead_us);
    v->inflight--;
    f->refs--;
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* ---- transform jobs' fleets ------------------------------------------ */

int hoster_job_start(struct hoster *h, const char *account, const char *job,
                     json_t *model, int count, struct hoster_job **out,
                     struct kiln_diag *d)
{
    json_t *dep = json_object(), *vs = json_array(), *v = json_object();
    struct fleet *f = NULL;

    json_object_set_new(v, "VariantName", json_string("AllTraffic"));
    json_object_set(v, "Model", model);
    json_object_set_new(v, "InitialInstanceCount", json_integer(count));
    json_object_set_new(v, "InitialVariantWeight", json_real(1));
    json_array_append_new(vs, v);
    json_object_set_new(dep, "Variants", vs);
    int rc = build_fleet(h, account, job, dep, false, true, -1, -1, &f, d);
    json_decref(dep);
    if (rc)
        return rc;
    if (f->v[0].multi) {
        stop_fleet(h, f);
        return diag_set(d, KILN_EINVAL,
                        "A multi-model container (Mode MultiModel) cannot "
                        "run a transform job.");
    }
    struct endpoint *e = xcalloc(1, sizeof(*e));
    str_copy(e->account, account, sizeof(e->account));
    str_copy(e->name, job, sizeof(e->name));
    e->job = true;
    e->fleet = f;
    e->in_service = true;
    pthread_mutex_lock(&h->lock);
    e->next = h->jobs;
    h->jobs = e;
    pthread_mutex_unlock(&h->lock);
    *out = (struct hoster_job *)e;
    return 0;
}

int hoster_job_invoke(struct hoster *h, struct hoster_job *j,
                      const struct invoke_req *req, struct invoke_resp *resp,
                      struct kiln_diag *d)
{
    struct endpoint *e = (struct endpoint *)j;
    pthread_mutex_lock(&h->lock);
    struct fleet *f = e->fleet;
    f->refs++;
    str_copy(resp->variant, f->v[0].name, sizeof(resp->variant));
    pthread_mutex_unlock(&h->lock);
    int rc = call_variant(h, &f->v[0], NULL, req, resp);
    if (rc == KILN_EUNAVAILABLE)
        diag_set(d, KILN_EUNAVAILABLE,
                 "No model server of transform job %s is available.", e->name);
    pthread_mutex_lock(&h->lock);
    f->refs--;
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void hoster_job_stop(struct hoster *h, struct hoster_job *j)
{
    struct endpoint *e = (struct endpoint *)j;
    if (!e)
        return;
    pthread_mutex_lock(&h->lock);
    for (struct endpoint **pp = &h->jobs; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    pthread_mutex_unlock(&h->lock);
    retire(h, e->fleet);
    mem_free(e);
}

/* ---- set-up and tear-down --------------------------------------------- */

/* An endpoint whose deletion a previous server did not finish. */
static int forget(void *ctx, const char *account, const char *name)
{
    struct hoster *h = ctx;
    kept_forget(h, account, name);
    meta_res_delete(h->o.meta, account, "endpoint", name);
    return 0;
}

static int resume(void *ctx, const char *account, const char *name)
{
    struct hoster *h = ctx;
    return launch(h, account, name, OP_RESUME);
}

/* An update a previous server did not finish: what the endpoint served
 * comes back first, then the update runs again. */
static int resume_update(void *ctx, const char *account, const char *name)
{
    struct hoster *h = ctx;
    int rc = launch(h, account, name, OP_RESUME);
    return rc ? rc : launch(h, account, name, OP_UPDATE);
}

/*
 * The socket directory of a server killed before it could remove its own
 * is removed by the next one on the same data dir: <data>/endpoint-sockets
 * names the one in use.
 */
static void forget_sockdir(const char *data_dir, const char *now)
{
    struct buf p = BUF_INIT(8192);
    char old[64] = "";
    FILE *f;

    buf_addf(&p, "%s/endpoint-sockets", data_dir);
    if ((f = fopen(buf_cstr(&p), "r"))) {
        if (fgets(old, sizeof(old), f))
            old[strcspn(old, "\n")] = '\0';
        fclose(f);
    }
    if (str_starts(old, "/tmp/kiln-") && !strchr(old + 10, '/') &&
        strcmp(old, now) != 0)
        fsx_remove_tree(old);
    if ((f = fopen(buf_cstr(&p), "w"))) {
        fprintf(f, "%s\n", now);
        fclose(f);
    }
    buf_release(&p);
}

int hoster_new(const struct hoster_opts *o, struct hoster **out,
               struct kiln_diag *d)
{
    struct hoster *h = xcalloc(1, sizeof(*h));
    struct buf p = BUF_INIT(8192);
    ssize_t n;

    h->o = *o;
    buf_addf(&p, "%s/endpoints", o->data_dir);
    h->root = buf_detach(&p, NULL);
    buf_addf(&p, "%s/endpoint-models", o->data_dir);
    h->kept = buf_detach(&p, NULL);
    mkdir(h->kept, 0700);
    fsx_remove_tree(h->root);
    mkdir(h->root, 0700);
    str_copy(h->sockdir, "/tmp/kiln-XXXXXX", sizeof(h->sockdir));
    if (!mkdtemp(h->sockdir)) {
        mem_free(h->root);
        mem_free(h->kept);
        mem_free(h);
        return diag_set(d, KILN_EIO, "cannot create a socket directory: %s",
                        strerror(errno));
    }
    forget_sockdir(o->data_dir, h->sockdir);
    n = readlink("/proc/self/exe", h->exe, sizeof(h->exe) - 1);
    if (n <= 0) {
        mem_free(h->root);
        mem_free(h->kept);
        mem_free(h);
        return diag_set(d, KILN_EIO, "cannot find the kiln executable");
    }
    h->exe[n] = '\0';
    h->seq = (unsigned)getpid();
    h->rng = h->seq;
    h->max_instances = o->max_instances;
    if (h->max_instances <= 0) {
        /* As many as memory allows, INSTANCE_MEM each. */
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        long long mem = pages > 0 && size > 0 ? (long long)pages * size : 0;
        h->max_instances = (int)(mem / INSTANCE_MEM);
        if (h->max_instances < 8)
            h->max_instances = 8;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h->handles = xcalloc(1, sizeof(*h->handles));
    pthread_mutex_init(&h->handles->lock, NULL);
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&h->spawned, NULL);
    pthread_cond_init(&h->mirror_wake, NULL);
    h->mirrors_tail = &h->mirrors;
    pthread_create(&h->monitor, NULL, monitor, h);
    pthread_create(&h->mirror_thread, NULL, mirror_thread, h);
    meta_res_each_status(o->meta, "endpoint", "InService", resume, h);
    meta_res_each_status(o->meta, "endpoint", "Creating", resume, h);
    meta_res_each_status(o->meta, "endpoint", "Updating", resume_update, h);
    meta_res_each_status(o->meta, "endpoint", "Deleting", forget, h);
    *out = h;
    return 0;
}

void hoster_free(struct hoster *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_mutex_unlock(&h->lock);
    for (;;) {
        pthread_mutex_lock(&h->lock);
        reap_ops(h);
        bool idle = h->ops == NULL;
        if (idle)
            h->closing = true;
        pthread_mutex_unlock(&h->lock);
        if (idle)
            break;
        usleep(10000);
    }
    pthread_mutex_lock(&h->lock);
    pthread_cond_broadcast(&h->mirror_wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->mirror_thread, NULL);
    pthread_join(h->monitor, NULL);
    while (h->eps) {
        struct endpoint *e = h->eps;
        h->eps = e->next;
        stop_fleet(h, e->fleet);
        mem_free(e);
    }
    handles_forget(h, NULL);
    pthread_mutex_destroy(&h->handles->lock);
    mem_free(h->handles);
    curl_global_cleanup();
    pthread_cond_destroy(&h->wake);
    pthread_cond_destroy(&h->spawned);
    pthread_cond_destroy(&h->mirror_wake);
    pthread_mutex_destroy(&h->lock);
    rmdir(h->sockdir);
    mem_free(h->root);
    mem_free(h->kept);
    mem_free(h);
}
