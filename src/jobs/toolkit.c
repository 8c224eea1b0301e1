/*
 * toolkit.c - script mode's command line and environment (see toolkit.h).
 */
#include "jobs/toolkit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/fsx.h"
#include "base/mem.h"
#include "base/str.h"
#include "jobs/rsh.h"
#include "jobs/sandbox.h"

#define VALUE_MAX (1 << 20)

/* The hyper-parameters the toolkit reads itself; other sagemaker_ ones
 * are "additional framework parameters" (SM_FRAMEWORK_PARAMS). */
static const char *const toolkit_names[] = {
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output"};

static bool is_toolkit(const char *name)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(toolkit_names); i++)
        if (strcmp(name, toolkit_names[i]) == 0)
            return true;
    return false;
}

/* A hyper-parameter's value as the toolkit reads it: JSON when it parses,
 * else the text itself. */
static json_t *decoded(json_t *raw)
{
    const char *s = json_string_value(raw);
    json_t *v;

    if (!s)
        return json_incref(raw);
    v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(s);
}

bool toolkit_is_script(json_t *hyperparameters)
{
    return json_object_get(hyperparameters, "sagemaker_program") != NULL;
}

const char *toolkit_launcher(json_t *hyperparameters)
{
    /* The toolkit's list (environment.py, distribution instance groups). */
    static const char *const launchers[] = {
        "sagemaker_mpi_enabled",
        "sagemaker_parameter_server_enabled",
        "sagemaker_distributed_dataparallel_enabled",
        "sagemaker_pytorch_ddp_enabled",
        "sagemaker_pytorch_xla_multi_worker_enabled",
        "sagemaker_multi_worker_mirrored_strategy_enabled",
        "sagemaker_torch_distributed_enabled"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(launchers); i++) {
        json_t *raw = json_object_get(hyperparameters, launchers[i]);
        json_t *v = raw ? decoded(raw) : NULL;
        bool on =
            json_is_true(v) || (json_is_string(v) &&
                                strcasecmp(json_string_value(v), "true") == 0);
        json_decref(v);
        if (on)
            return launchers[i];
    }
    return NULL;
}

bool toolkit_launcher_supported(const char *launcher)
{
    return launcher && (strcmp(launcher, TOOLKIT_TORCHRUN) == 0 ||
                        strcmp(launcher, TOOLKIT_MPI) == 0);
}

bool toolkit_error_line(const char *line, size_t len)
{
    size_t i = 0, part = 0;

    /* mpirun --tag-output's "[1,0]<stderr>:" */
    if (len && line[0] == '[') {
        const char *tag = memchr(line, '>', len < 64 ? len : 64);
        if (tag && (size_t)(tag - line) + 1 < len && tag[1] == ':')
            i = (size_t)(tag - line) + 2;
    }
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    for (part = i; i < len && line[i] != ':'; i++) {
        char c = line[i];
        if (c == '.')
            part = i + 1;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    if (i == len || i == part || line[part] < 'A' || line[part] > 'Z')
        return false;
    size_t n = i - part;
    const char *name = line + part;
    return (n > 5 && memcmp(name + n - 5, "Error", 5) == 0) ||
           (n >= 9 && memcmp(name + n - 9, "Exception", 9) == 0);
}

char *toolkit_param(json_t *hyperparameters, const char *name)
{
    json_t *raw = json_object_get(hyperparameters, name);
    json_t *v = raw ? decoded(raw) : NULL;
    char *out = json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
    json_decref(v);
    return out;
}

/* ---- Python's str() and repr() ---------------------------------------- */

/* repr(float): the shortest digits that read back as x, positional for
 * exponents -4 to 15, else d.ddde+XX. */
static void py_float(double x, struct buf *out)
{
    char tmp[64], digits[32];
    size_t nd = 0;
    int exp = 0;

    if (isnan(x) || isinf(x)) {
        buf_adds(out, isnan(x) ? "nan" : x < 0 ? "-inf" : "inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    const char *c = tmp;
    if (*c == '-') {
        buf_addc(out, '-');
        c++;
    }
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9' && nd < sizeof(digits) - 1)
            digits[nd++] = *c;
    digits[nd] = '\0';
    if (*c == 'e')
        exp = (int)strtol(c + 1, NULL, 10);
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            buf_adds(out, "0.");
            for (int i = -1; i > exp; i--)
                buf_addc(out, '0');
            buf_adds(out, digits);
            return;
        }
        for (int i = 0; i <= exp; i++)
            buf_addc(out, (size_t)i < nd ? digits[i] : '0');
        buf_addc(out, '.');
        if ((size_t)exp + 1 < nd)
            buf_adds(out, digits + exp + 1);
        else
            buf_addc(out, '0');
        return;
    }
    buf_addc(out, digits[0]);
    if (nd > 1)
        buf_addf(out, ".%s", digits + 1);
    buf_addf(out, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
}

static void py_repr(json_t *v, struct buf *out);

static void py_string_repr(const char *s, struct buf *out)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';

    buf_addc(out, q);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q)
            buf_addf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_adds(out, "\\n");
        else if (*p == '\r')
            buf_adds(out, "\\r");
        else if (*p == '\t')
            buf_adds(out, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            buf_addf(out, "\\x%02x", *p);
        else
            buf_addc(out, (char)*p);
    }
    buf_addc(out, q);
}

/* str() of everything but strings, null and maps, which differ between
 * str() and repr(). */
static void py_scalar_or_list(json_t *v, struct buf *out)
{
    size_t i;
    json_t *e;

    switch (json_typeof(v)) {
    case JSON_INTEGER:
        buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        py_float(json_real_value(v), out);
        break;
    case JSON_TRUE:
        buf_adds(out, "True");
        break;
    case JSON_FALSE:
        buf_adds(out, "False");
        break;
    case JSON_ARRAY:
        buf_addc(out, '[');
        json_array_foreach(v, i, e)
        {
            if (i)
                buf_adds(out, ", ");
            py_repr(e, out);
        }
        buf_addc(out, ']');
        break;
    default:
        break;
    }
}

static void py_repr(json_t *v, struct buf *out)
{
    const char *k;
    json_t *e;
    bool first = true;

    if (json_is_string(v)) {
        py_string_repr(json_string_value(v), out);
    } else if (json_is_null(v)) {
        buf_adds(out, "None");
    } else if (json_is_object(v)) {
        buf_addc(out, '{');
        json_object_foreach(v, k, e)
        {
            if (!first)
                buf_adds(out, ", ");
            first = false;
            py_string_repr(k, out);
            buf_adds(out, ": ");
            py_repr(e, out);
        }
        buf_addc(out, '}');
    } else {
        py_scalar_or_list(v, out);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The object's keys in byte order (an owned array of borrowed keys). */
static const char **sorted_keys(json_t *o, size_t *n)
{
    const char **keys = xcalloc(json_object_size(o) + 1, sizeof(*keys));
    const char *k;
    json_t *v;

    *n = 0;
    json_object_foreach(o, k, v) keys[(*n)++] = k;
    qsort(keys, *n, sizeof(*keys), by_name);
    return keys;
}

void toolkit_py_str(json_t *v, struct buf *out)
{
    if (json_is_string(v)) {
        buf_adds(out, json_string_value(v));
    } else if (json_is_object(v)) {
        /* to_cmd_args: a map becomes k=v pairs in key order. */
        size_t n;
        const char **keys = sorted_keys(v, &n);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object_get(v, keys[i]);
            buf_addf(out, "%s%s=", i ? "," : "", keys[i]);
            if (json_is_string(e))
                buf_adds(out, json_string_value(e));
            else
                py_repr(e, out);
        }
        mem_free(keys);
    } else if (!json_is_null(v)) {
        py_scalar_or_list(v, out);
    }
}

/* ---- the environment ---------------------------------------------------- */

/* A value as the toolkit's to_env_vars formats it. */
static char *env_value(json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_null(v))
        return xstrdup("");
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                JSON_ENCODE_ANY);
    char *out = xstrdup(s ? s : "");
    free(s); /* jansson's allocation; checksrc: allow */
    return out;
}

static void set_env(struct strv *env, json_t *training_env, const char *name,
                    json_t *v)
{
    char *s = env_value(v);
    struct buf key = BUF_INIT(4096);

    buf_adds(&key, "SM_");
    for (const char *p = name; *p; p++)
        buf_addc(&key, (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p));
    strv_addf(env, "%s=%s", buf_cstr(&key), s);
    if (training_env)
        json_object_set(training_env, name, v);
    buf_release(&key);
    mem_free(s);
    json_decref(v);
}

static json_t *path(const char *rel)
{
    struct buf p = BUF_INIT(4096);
    buf_addf(&p, "%s%s", SANDBOX_ROOT, rel);
    json_t *s = json_string(buf_cstr(&p));
    buf_release(&p);
    return s;
}

static bool has(json_t *array, json_t *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(array, i, e) if (json_equal(e, v)) return true;
    return false;
}

/*
 * The instance groups a launcher spans, as the toolkit's environment.py
 * reads them: sagemaker_distribution_instance_groups, else the current
 * group when a launcher is on; and their hosts (every host when the
 * resource config lists no groups).
 */
static void distribution(json_t *fw, json_t *rc_json, json_t *group,
                         json_t **groups, json_t **hosts)
{
    json_t *named =
        json_object_get(fw, "sagemaker_distribution_instance_groups");
    json_t *all = json_object_get(rc_json, "instance_groups");
    size_t i;
    json_t *g;

    if (json_is_array(named)) {
        *groups = json_incref(named);
    } else {
        *groups = json_array();
        if (toolkit_launcher(fw))
            json_array_append(*groups, group);
    }
    if (!json_array_size(all)) {
        *hosts = json_copy(json_object_get(rc_json, "hosts"));
        return;
    }
    *hosts = json_array();
    json_array_foreach(all, i, g)
    {
        if (has(*groups, json_object_get(g, "instance_group_name")))
            json_array_extend(*hosts, json_object_get(g, "hosts"));
    }
}

/* sagemaker_mpi_num_of_processes_per_host, or 1 (kiln's instances have
 * no GPUs); 0 when it is not a positive count. */
static int processes_per_host(json_t *fw)
{
    json_t *v = json_object_get(fw, "sagemaker_mpi_num_of_processes_per_host");
    if (!v)
        return 1;
    if (json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= 1024)
        return (int)json_integer_value(v);
    return 0;
}

/* torchrun's command for this host, as TorchDistributedRunner makes it. */
static int torchrun(const struct toolkit_job *j, json_t *fw, json_t *hosts,
                    const char *host, const char *program, struct strv *argv,
                    struct strv *env, struct kiln_diag *d)
{
    int per_host = processes_per_host(fw);
    size_t n = json_array_size(hosts), rank = 0;
    json_t *me = json_string(host ? host : "");

    while (rank < n && !json_equal(json_array_get(hosts, rank), me))
        rank++;
    json_decref(me);
    if (!str_ends(program, ".py"))
        return diag_set(d, KILN_EINVAL,
                        "ClientError: Unsupported entry point type for "
                        "torch_distributed: it runs a Python script, e.g. "
                        "\"train.py\"");
    if (!per_host)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: sagemaker_mpi_num_of_processes_per_host "
                        "must be a whole number from 1 to 1024");
    /* Debian 12's torch 1.13 cannot read torchrun's default "0" for
     * these on Python 3.11 (iterating an IntFlag leaves out NONE). Naming
     * only local rank 9 says the same, no redirection, and reads. */
    if (per_host <= 9) {
        strv_add(env, "PET_REDIRECTS=9:0");
        strv_add(env, "PET_TEE=9:0");
    }
    strv_add(argv, j->python);
    strv_add(argv, "-m");
    strv_add(argv, "torch.distributed.run");
    strv_add(argv, "--nnodes");
    strv_addf(argv, "%zu", n);
    strv_add(argv, "--nproc_per_node");
    strv_addf(argv, "%d", per_host);
    /* The toolkit leaves these out for one host, where torchrun listens
     * on port 29500 of every address: kiln's port is the job's own. */
    strv_add(argv, "--master_addr");
    strv_add(argv, json_string_value(json_array_get(hosts, 0)));
    strv_add(argv, "--master_port");
    strv_addf(argv, "%d", j->master_port ? j->master_port : 7777);
    strv_add(argv, "--node_rank");
    strv_addf(argv, "%zu", rank);
    strv_add(argv, program);
    return 0;
}

/* The toolkit's options of NCCL_DEBUG in sagemaker_mpi_custom_mpi_options
 * (its default INFO, or --NCCL_DEBUG X), and the others in order. */
static void custom_mpi_options(json_t *fw, struct strv *out, char *nccl,
                               size_t size)
{
    const char *s = json_string_value(
        json_object_get(fw, "sagemaker_mpi_custom_mpi_options"));
    struct strv words = STRV_INIT;

    str_copy(nccl, "INFO", size);
    while (s && *s) {
        size_t n = strcspn(s, " \t\n");
        if (n)
            strv_addf(&words, "%.*s", (int)n, s);
        s += n;
        s += strspn(s, " \t\n");
    }
    for (size_t i = 0; i < words.n; i++) {
        if (strcmp(words.items[i], "--NCCL_DEBUG") == 0 && i + 1 < words.n)
            str_copy(nccl, words.items[++i], size);
        else if (str_starts(words.items[i], "--NCCL_DEBUG="))
            str_copy(nccl, words.items[i] + 13, size);
        else
            strv_add(out, words.items[i]);
    }
    strv_release(&words);
}

/*
 * The MPI runner's command, as the toolkit's MasterRunner makes it on the
 * first host of the distribution (its SSH replaced by kiln rsh, its
 * network interface the loopback device, no binding to cores the
 * instances share), and on the others the stand-in for their sshd.
 */
static int mpirun(json_t *fw, json_t *hosts, const char *host,
                  const struct strv *env, struct strv *argv, bool *worker,
                  struct kiln_diag *d)
{
    int per_host = processes_per_host(fw);
    size_t n = json_array_size(hosts);
    const char *master = json_string_value(json_array_get(hosts, 0));
    json_t *np = json_object_get(fw, "sagemaker_mpi_num_processes");
    struct buf list = BUF_INIT(1 << 20);
    struct strv custom = STRV_INIT;
    char nccl[64];

    if (!per_host)
        return diag_set(d, KILN_EINVAL,
                        "ClientError: sagemaker_mpi_num_of_processes_per_host "
                        "must be a whole number from 1 to 1024");
    if (np && (!json_is_integer(np) || json_integer_value(np) < 1 ||
               json_integer_value(np) > (json_int_t)(n * (size_t)per_host)))
        return diag_set(d, KILN_EINVAL,
                        "ClientError: sagemaker_mpi_num_processes must be a "
                        "whole number from 1 to the hosts' processes (%zu)",
                        n * (size_t)per_host);
    *worker = !host || !master || strcmp(host, master) != 0;
    if (*worker) {
        strv_addv(argv, (const char *const[]){RSH_KILN, "rshd",
                                              host ? host : "", NULL});
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        buf_addf(&list, "%s%s", i ? "," : "",
                 json_string_value(json_array_get(hosts, i)));
        if (per_host > 1)
            buf_addf(&list, ":%d", per_host);
    }
    custom_mpi_options(fw, &custom, nccl, sizeof(nccl));
    strv_addv(argv, (const char *const[]){"mpirun", "--host", buf_cstr(&list),
                                          "-np", NULL});
    strv_addf(argv, "%" JSON_INTEGER_FORMAT,
              np ? json_integer_value(np) : (json_int_t)(n * (size_t)per_host));
    strv_addv(argv, (const char *const[]){"--allow-run-as-root",
                                          "--display-map",
                                          "--tag-output",
                                          "-mca",
                                          "btl_tcp_if_include",
                                          "lo",
                                          "-mca",
                                          "oob_tcp_if_include",
                                          "lo",
                                          "-mca",
                                          "plm_rsh_no_tree_spawn",
                                          "1",
                                          "-mca",
                                          "plm_rsh_agent",
                                          RSH_KILN " rsh",
                                          "-bind-to",
                                          "none",
                                          "-map-by",
                                          "slot",
                                          "-mca",
                                          "pml",
                                          "ob1",
                                          "-mca",
                                          "btl",
                                          "^openib",
                                          "-mca",
                                          "orte_abort_on_non_zero_status",
                                          "1",
                                          "-x",
                                          "NCCL_MIN_NRINGS=4",
                                          "-x",
                                          "NCCL_SOCKET_IFNAME=lo",
                                          "-x",
                                          NULL});
    strv_addf(argv, "NCCL_DEBUG=%s", nccl);
    strv_addv(argv, (const char *const[]){"-x", "PATH", NULL});
    strv_addv(argv, strv_argv(&custom));
    for (size_t i = 0; i < env->n; i++) {
        if (!str_starts(env->items[i], "SM_"))
            continue;
        strv_add(argv, "-x");
        strv_addf(argv, "%.*s", (int)strcspn(env->items[i], "="),
                  env->items[i]);
    }
    buf_release(&list);
    strv_release(&custom);
    return 0;
}

/* The command of this host: a launcher's when the host is one of the
 * distribution's (dist_hosts not NULL) and one is asked for, else the
 * entry point's. */
static int entry_command(const struct toolkit_job *j, json_t *fw,
                         json_t *dist_hosts, const char *host,
                         const char *program, const struct strv *user_args,
                         struct strv *env, struct strv *argv,
                         struct kiln_diag *d)
{
    const char *launcher = dist_hosts ? toolkit_launcher(fw) : NULL;
    bool mpi = launcher && strcmp(launcher, TOOLKIT_MPI) == 0, worker = false;
    int rc = 0;

    if (launcher && strcmp(launcher, TOOLKIT_TORCHRUN) == 0) {
        rc = torchrun(j, fw, dist_hosts, host, program, argv, env, d);
        strv_addv(argv, strv_argv(user_args));
        return rc;
    }
    if (mpi) {
        rc = mpirun(fw, dist_hosts, host, env, argv, &worker, d);
        if (rc || worker)
            return rc;
    }
    if (str_ends(program, ".py")) {
        strv_add(argv, j->python);
        if (mpi) /* uncaught exceptions abort every rank */
            strv_addv(argv, (const char *const[]){"-m", "mpi4py", NULL});
        strv_add(argv, program);
    } else if (str_ends(program, ".sh")) {
        strv_add(argv, "/bin/sh");
        strv_add(argv, program);
    } else {
        strv_addf(argv, "./%s", program);
    }
    strv_addv(argv, strv_argv(user_args));
    return 0;
}

int toolkit_command(const struct toolkit_job *j, struct strv *argv,
                    struct strv *env, struct kiln_diag *d)
{
    json_t *hps = json_object(), *fw = json_object(), *te = json_object();
    json_t *rc_json = j->resource_config, *channels = json_object();
    char *program = toolkit_param(j->hyperparameters, "sagemaker_program");
    char *submit =
        toolkit_param(j->hyperparameters, "sagemaker_submit_directory");
    const char *k,
        *host = json_string_value(json_object_get(rc_json, "current_host"));
    json_t *v, *args = json_array(), *names = json_array();
    struct strv user_args = STRV_INIT;
    struct buf text = BUF_INIT(VALUE_MAX);
    int rc = 0;

    if (!program || !fsx_safe_relpath(program) || program[0] == '-') {
        rc = diag_set(d, KILN_EINVAL,
                      "ClientError: sagemaker_program must name a file of "
                      "the source directory, e.g. \"train.py\"");
        goto out;
    }
    json_object_foreach(j->hyperparameters, k, v)
    {
        if (!is_toolkit(k))
            json_object_set_new(str_starts(k, "sagemaker_") ? fw : hps, k,
                                decoded(v));
    }
    json_t *level =
        json_object_get(j->hyperparameters, "sagemaker_container_log_level");
    level = level ? decoded(level) : json_integer(20);

    /* --name value, in name order; one-letter names get one dash. */
    size_t n;
    const char **keys = sorted_keys(hps, &n);
    for (size_t i = 0; i < n; i++) {
        buf_reset(&text);
        toolkit_py_str(json_object_get(hps, keys[i]), &text);
        strv_addf(&user_args, "%s%s", strlen(keys[i]) > 1 ? "--" : "-",
                  keys[i]);
        strv_add(&user_args, buf_cstr(&text));
        json_array_append_new(args, json_string(user_args.items[2 * i]));
        json_array_append_new(args, json_string(user_args.items[2 * i + 1]));
    }
    mem_free(keys);

    /* Channels, in name order. */
    keys = sorted_keys(j->input_data_config, &n);
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        snprintf(rel, sizeof(rel), "/input/data/%s", keys[i]);
        json_array_append_new(names, json_string(keys[i]));
        json_object_set_new(channels, keys[i], path(rel));
        buf_reset(&text);
        buf_addf(&text, "channel_%s", keys[i]);
        set_env(env, NULL, buf_cstr(&text), path(rel));
    }
    mem_free(keys);
    json_object_foreach(hps, k, v)
    {
        buf_reset(&text);
        buf_addf(&text, "hp_%s", k);
        set_env(env, NULL, buf_cstr(&text), json_incref(v));
    }

    char module[256];
    str_copy(module, program, sizeof(module));
    if (str_ends(module, ".py"))
        module[strlen(module) - 3] = '\0';
    json_t *hosts = json_object_get(rc_json, "hosts");
    json_t *group = json_object_get(rc_json, "current_group_name");
    json_t *groups = json_array(), *groups_dict = json_object();
    json_t *group_hosts = hosts, *dist_groups, *dist_hosts;
    size_t gi;
    json_t *g;
    json_array_foreach(json_object_get(rc_json, "instance_groups"), gi, g)
    {
        json_t *name = json_object_get(g, "instance_group_name");
        json_array_append(groups, name);
        if (json_is_string(name))
            json_object_set(groups_dict, json_string_value(name), g);
        if (json_equal(name, group))
            group_hosts = json_object_get(g, "hosts");
    }
    group = json_is_string(group) ? json_incref(group)
                                  : json_string("homogeneousCluster");
    distribution(fw, rc_json, group, &dist_groups, &dist_hosts);
    json_t *master = json_array_size(dist_hosts) ? json_array_get(dist_hosts, 0)
                                                 : json_array_get(hosts, 0);

    set_env(env, te, "additional_framework_parameters", json_incref(fw));
    set_env(env, te, "channel_input_dirs", json_incref(channels));
    set_env(env, te, "channels", json_incref(names));
    set_env(env, te, "current_host", json_string(host ? host : "algo-1"));
    set_env(env, te, "current_instance_group", json_incref(group));
    set_env(env, te, "current_instance_group_hosts", json_incref(group_hosts));
    set_env(env, te, "current_instance_type",
            json_incref(json_object_get(rc_json, "current_instance_type")));
    set_env(env, te, "distribution_hosts", json_incref(dist_hosts));
    set_env(env, te, "distribution_instance_groups", json_incref(dist_groups));
    set_env(env, te, "framework_module", json_string(""));
    set_env(env, te, "hosts", json_incref(hosts));
    set_env(env, te, "hps", json_incref(hps));
    set_env(env, te, "hyperparameters", json_incref(hps));
    set_env(env, te, "input_config_dir", path("/input/config"));
    set_env(env, te, "input_data_config", json_incref(j->input_data_config));
    set_env(env, te, "input_dir", path("/input"));
    set_env(env, te, "instance_groups", json_incref(groups));
    set_env(env, te, "instance_groups_dict", json_incref(groups_dict));
    set_env(env, te, "is_hetero", json_boolean(json_array_size(groups) > 1));
    set_env(env, te, "is_master",
            json_boolean(host && json_is_string(master) &&
                         strcmp(host, json_string_value(master)) == 0));
    set_env(env, te, "job_name", json_string(j->job_name));
    set_env(env, te, "log_level", level);
    set_env(env, te, "master_hostname", json_incref(master));
    set_env(env, te, "model_dir", path("/model"));
    set_env(env, te, "module_dir",
            json_string(submit ? submit : SANDBOX_ROOT "/code"));
    set_env(env, te, "module_name", json_string(module));
    set_env(env, te, "network_interface_name",
            json_incref(json_object_get(rc_json, "network_interface_name")));
    set_env(env, te, "num_cpus", json_integer(j->cpus));
    set_env(env, te, "num_gpus", json_integer(0));
    set_env(env, te, "num_neurons", json_integer(0));
    set_env(env, te, "output_data_dir", path("/output/data"));
    set_env(env, te, "output_dir", path("/output"));
    set_env(env, te, "output_intermediate_dir", path("/output/intermediate"));
    set_env(env, te, "resource_config", json_incref(rc_json));
    set_env(env, te, "user_entry_point", json_string(program));
    set_env(env, NULL, "framework_params", json_incref(fw));
    set_env(env, NULL, "user_args", json_incref(args));
    set_env(env, NULL, "training_env", json_incref(te));
    /* What the toolkit exports for the script besides SM_*; the
     * PyTorch images' MASTER_ADDR and MASTER_PORT for init_process_group
     * too. */
    strv_addf(env, "SAGEMAKER_JOB_NAME=%s", j->job_name);
    strv_addf(env, "CURRENT_HOST=%s", host ? host : "algo-1");
    if (json_is_string(master)) {
        strv_addf(env, "MASTER_ADDR=%s", json_string_value(master));
        strv_addf(env, "MASTER_PORT=%d",
                  j->master_port ? j->master_port : 7777);
    }
    json_decref(groups);
    json_decref(groups_dict);
    rc = entry_command(j, fw, has(dist_groups, group) ? dist_hosts : NULL, host,
                       program, &user_args, env, argv, d);
    json_decref(group);
    json_decref(dist_groups);
    json_decref(dist_hosts);
    strv_add(env, "PYTHONUNBUFFERED=TRUE");
    strv_add(env, "PYTHONDONTWRITEBYTECODE=TRUE");
    strv_add(env, "PYTHONPATH=" SANDBOX_ROOT "/code");
out:
    json_decref(hps);
    json_decref(fw);
    json_decref(te);
    json_decref(channels);
    json_decref(args);
    json_decref(names);
    strv_release(&user_args);
    buf_release(&text);
    mem_free(program);
    mem_free(submit);
    return rc;
}
