/*
 * algo.c - `kiln algo <name> train|serve`: the built-in algorithms, run
 * under the same container contract as bring-your-own images.
 *
 *   kiln algo kmeans train                   container mode: paths from
 *                                            --input-dir/--model-dir/
 *                                            --output-dir or SM_* variables
 *   kiln algo kmeans train --data FILE [--test FILE] [--content-type T]
 *        --hp k=10 --hp feature_dim=784 --model-dir out/   standalone
 */
#include <jansson.h>
#include <unistd.h>

#include "algos/algo.h"
#include "algos/kmeans/serve.h"
#include "algos/kmeans/train.h"
#include "algos/monitor/analyze.h"
#include "algos/script/serve.h"
#include "base/log.h"
#include "cmd/cmd.h"
#include "http/server.h"
#include "jobs/hostspec.h"
#include "ml/comm.h"

struct algo_entry {
    const char *name;
    int (*train)(const struct algo_args *a);
};

static const struct algo_entry algos[] = {
    {"kmeans", kmeans_train},
};

/* ---- serve: the SageMaker serving contract over kiln's HTTP server ---- */

/* The largest request body (InvokeEndpoint's are at most 6 MB; those of
 * InvokeEndpointAsync may be larger). */
#define SERVE_BODY_MAX ((size_t)64 << 20)

/* What answers POST /invocations. */
struct serve_app {
    const struct kmeans_model *kmeans; /* else a script-mode model */
};

static void serve_handle(void *app, struct http_request *r,
                         enum http_phase phase)
{
    const struct serve_app *s = app;
    if (phase == HTTP_PHASE_HEADERS) {
        r->body_max = SERVE_BODY_MAX;
        return;
    }
    if (strcmp(r->path, "/ping") == 0 && strcmp(r->method, "GET") == 0) {
        http_respond(r, 200, "text/plain", "", 0);
        return;
    }
    if (strcmp(r->path, "/invocations") != 0 ||
        strcmp(r->method, "POST") != 0) {
        static const char msg[] = "not found\n";
        http_respond(r, 404, "text/plain", msg, sizeof(msg) - 1);
        return;
    }
    if (r->body_overflow) {
        static const char msg[] = "request body too large: the built-in "
                                  "model server takes at most 64 MiB\n";
        http_respond(r, 413, "text/plain", msg, sizeof(msg) - 1);
        return;
    }
    struct buf out = BUF_INIT((size_t)256 << 20);
    const char *type = "text/plain";
    char script_type[128];
    int status = 500;
    if (s->kmeans) {
        kmeans_invoke(s->kmeans, http_request_header(r, "Content-Type"),
                      http_request_header(r, "Accept"), r->body.data,
                      r->body.len, &status, &out, &type);
    } else {
        script_invoke(http_request_header(r, "Content-Type"),
                      http_request_header(r, "Accept"), r->body.data,
                      r->body.len, &status, &out, script_type,
                      sizeof(script_type));
        type = script_type;
    }
    http_respond(r, status, type, out.data, out.len);
    buf_release(&out);
}

/* Ends a script-mode model server. Python is not finalized (extension
 * modules do not unload cleanly): the process ends here, without exit
 * handlers, so that neither Python's teardown nor a leak checker runs
 * over an interpreter that is still alive. */
static void script_exit(int status)
{
    script_model_stop();
    fflush(NULL);
    _exit(status);
}

static int serve(const struct kiln_config *c, bool script)
{
    struct kmeans_model m = {0};
    struct serve_app app = {script ? NULL : &m};
    struct kiln_diag d = {0};
    struct http_server *srv = NULL;
    const char *name = script ? "script" : "kmeans";
    int rc;

    if (script)
        rc = c->program ? script_model_load(c->submit_directory, c->program,
                                            c->model_dir, c->default_accept, &d)
                        : diag_set(&d, KILN_EINVAL,
                                   "no entry point (SAGEMAKER_PROGRAM)");
    else
        rc = kmeans_model_load(c->model_dir, &m, &d);
    if (rc) {
        fprintf(stderr, "kiln algo %s serve: %s\n", name, d.msg);
        if (script)
            script_exit(1);
        return 1;
    }
    cmd_signals_setup();
    log_set_level((enum log_level)log_level_parse(c->log_level));
    struct http_server_opts o = {.bind = "127.0.0.1",
                                 .unix_path = c->serve_socket,
                                 .port = (unsigned)c->serve_port,
                                 .threads =
                                     c->threads ? (unsigned)c->threads : 2,
                                 .handler = serve_handle,
                                 .app = &app};
    rc = http_server_start(&o, &srv, &d);
    if (rc) {
        fprintf(stderr, "kiln algo %s serve: %s\n", name, d.msg);
    } else {
        printf("kiln: %s model serving on %s\n", name,
               c->serve_socket ? c->serve_socket : "127.0.0.1");
        fflush(stdout);
        cmd_signals_wait();
        http_server_stop(srv);
    }
    kmeans_model_release(&m);
    cmd_signals_release();
    if (script)
        script_exit(rc ? 1 : 0);
    return rc ? 1 : 0;
}

/*
 * One host of a training job: joins the job's other hosts (MPI) when
 * there are several, builds its own tree when the server sent a host spec
 * (a cluster machine without the server's files), trains, reports. A
 * failing host ends the others: they would wait for it forever.
 */
static int train_host(const struct algo_entry *e, const struct kiln_config *c,
                      struct algo_args *a)
{
    struct comm comm;
    struct hostspec_tree tree = {0};
    struct kiln_diag d = {0};
    int status = 0;

    if (comm_init(&comm, c->mpi != 0, &d) != 0) {
        fprintf(stderr, "kiln algo: %s\n", d.msg);
        return 1;
    }
    a->comm = &comm;
    if (c->host_spec) {
        int rc = hostspec_fetch(c->host_spec, "/tmp", &tree, &d);
        if (tree.root[0]) {
            a->input_dir = tree.input;
            a->model_dir = tree.model;
            a->output_dir = tree.output;
        }
        if (rc)
            status = algo_fail(a, false, d.msg);
    }
    if (!status)
        status = e->train(a);
    if (c->host_spec && hostspec_report(&tree, status != 0, &d) != 0 &&
        status == 0) {
        status = algo_fail(a, false, d.msg);
        hostspec_report(&tree, true, &d);
    }
    if (status)
        comm_abort(&comm, status);
    if (comm_finish(&comm) != 0 && status == 0)
        status = 1; /* a sanitizer build found a leak */
    hostspec_release(&tree);
    return status;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: kiln algo NAME train [--data FILE [--test FILE] "
            "[--content-type TYPE] --hp KEY=VALUE ...] [--model-dir DIR] "
            "[--output-dir DIR] [--input-dir DIR]\n"
            "algorithms:");
    for (size_t i = 0; i < KILN_ARRAY_LEN(algos); i++)
        fprintf(stderr, " %s", algos[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int cmd_algo(int argc, char **argv)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    struct algo_args a = {0};
    const struct algo_entry *e = NULL;
    int rest[256], nrest = 0, status = 2;
    json_t *hp = json_object();

    config_init(&c);
    if (argc > (int)KILN_ARRAY_LEN(rest) ||
        config_load(&c, argc, argv, rest, &nrest, &d) != 0) {
        fprintf(stderr, "kiln algo: %s\n", d.msg[0] ? d.msg : "bad options");
        goto out;
    }
    if (nrest >= 1 && strcmp(argv[rest[0]], "list") == 0) {
        for (size_t i = 0; i < KILN_ARRAY_LEN(algos); i++)
            printf("%s\n", algos[i].name);
        status = 0;
        goto out;
    }
    if (nrest == 2 && strcmp(argv[rest[1]], "serve") == 0 &&
        (strcmp(argv[rest[0]], "kmeans") == 0 ||
         strcmp(argv[rest[0]], "script") == 0)) {
        status = serve(&c, strcmp(argv[rest[0]], "script") == 0);
        goto out;
    }
    if (nrest == 2 && strcmp(argv[rest[0]], "model-monitor") == 0 &&
        strcmp(argv[rest[1]], "analyze") == 0) {
        struct monitor_opts mo = {.root = c.processing_root,
                                  .format = c.dataset_format,
                                  .source = c.dataset_source,
                                  .output = c.output_path,
                                  .statistics = c.baseline_statistics,
                                  .constraints = c.baseline_constraints,
                                  .start_time = c.start_time,
                                  .end_time = c.end_time,
                                  .publish = c.publish_cloudwatch_metrics,
                                  .endpoint = c.sagemaker_endpoint_name,
                                  .schedule =
                                      c.sagemaker_monitoring_schedule_name};
        int rc = monitor_analyze(&mo, &d);
        /* The last line is the processing job's FailureReason. */
        if (rc)
            printf("%s%s\n", rc == KILN_EINVAL ? "ClientError: " : "", d.msg);
        status = !rc ? 0 : rc == KILN_EINVAL ? 2 : 1;
        goto out;
    }
    if (nrest < 2 || strcmp(argv[rest[1]], "train") != 0) {
        status = usage();
        goto out;
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(algos); i++)
        if (strcmp(algos[i].name, argv[rest[0]]) == 0)
            e = &algos[i];
    if (!e) {
        fprintf(stderr, "kiln algo: unknown algorithm '%s'\n", argv[rest[0]]);
        goto out;
    }
    for (int i = 2; i < nrest; i += 2) {
        const char *f = argv[rest[i]];
        const char *v = i + 1 < nrest ? argv[rest[i + 1]] : NULL;
        if (!v) {
            status = usage();
            goto out;
        }
        if (strcmp(f, "--data") == 0) {
            a.data = v;
        } else if (strcmp(f, "--test") == 0) {
            a.test = v;
        } else if (strcmp(f, "--content-type") == 0) {
            a.content_type = v;
        } else if (strcmp(f, "--hp") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq) {
                fprintf(stderr, "kiln algo: --hp wants KEY=VALUE, not '%s'\n",
                        v);
                goto out;
            }
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
            json_object_set_new(hp, key, json_string(eq + 1));
        } else {
            status = usage();
            goto out;
        }
    }
    a.input_dir = c.input_dir;
    a.model_dir = c.model_dir;
    a.output_dir = c.output_dir;
    a.hyperparameters = hp;
    status = train_host(e, &c, &a);
out:
    json_decref(hp);
    config_release(&c);
    return status;
}
