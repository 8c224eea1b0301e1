/*
 * launch.c - the mpirun command line, shard assignment, output tags and
 * hostfile slots (see launch.h).
 */
#include "jobs/launch.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/strv.h"

static void add_path(struct strv *b, const char *prefix, const char *dir,
                     int host, const char *sub)
{
    strv_addf(b, "%s%s/algo-%d%s", prefix, dir, host, sub);
}

/* Appends the blank-separated words of opts. */
static void add_words(struct strv *b, const char *opts)
{
    const char *p = opts;
    while (p && *p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (p > start) {
            char *w = xstrndup(start, (size_t)(p - start));
            strv_add(b, w);
            mem_free(w);
        }
    }
}

int launch_argv(const struct launch_plan *plan, char ***argv)
{
    struct strv b = STRV_INIT;

    *argv = NULL;
    if (plan->ranks < 1 || !plan->cmd || !plan->cmd[0] || !plan->mpirun)
        return KILN_EINVAL;
    strv_add(&b, plan->mpirun);
    if (plan->as_root)
        strv_add(&b, "--allow-run-as-root");
    /* Each line carries its rank, so it lands in that host's stream. */
    strv_add(&b, "--tag-output");
    /* The algorithm threads itself (BLAS); a rank pinned to one core
     * would run its threads on that core alone. */
    strv_add(&b, "--bind-to");
    strv_add(&b, "none");
    if (plan->hostfile) {
        strv_add(&b, "--hostfile");
        strv_add(&b, plan->hostfile);
    } else {
        /* Instances share this machine, whatever its core count. */
        strv_add(&b, "--oversubscribe");
    }
    add_words(&b, plan->mpi_options);
    for (int r = 0; r < plan->ranks; r++) {
        if (r > 0)
            strv_add(&b, ":");
        strv_add(&b, "-np");
        strv_add(&b, "1");
        strv_add(&b, "-wdir");
        if (plan->remote_trees) {
            strv_add(&b, "/tmp");
        } else {
            add_path(&b, "", plan->job_dir, r + 1, "");
            strv_add(&b, "-x");
            add_path(&b, "SM_INPUT_DIR=", plan->job_dir, r + 1, "/input");
            strv_add(&b, "-x");
            add_path(&b, "SM_MODEL_DIR=", plan->job_dir, r + 1, "/model");
            strv_add(&b, "-x");
            add_path(&b, "SM_OUTPUT_DIR=", plan->job_dir, r + 1, "/output");
        }
        if (plan->rank_env) {
            strv_add(&b, "-x");
            strv_add(&b, plan->rank_env[r]);
        }
        for (size_t i = 0; plan->env && plan->env[i]; i++) {
            strv_add(&b, "-x");
            strv_add(&b, plan->env[i]);
        }
        for (size_t i = 0; plan->cmd[i]; i++)
            strv_add(&b, plan->cmd[i]);
    }
    *argv = strv_detach(&b);
    return 0;
}

void launch_argv_free(char **argv)
{
    strv_free_argv(argv);
}

int launch_shard_host(size_t index, size_t count, int hosts)
{
    (void)count;
    if (hosts <= 1)
        return 0;
    return (int)(index % (size_t)hosts);
}

int launch_tag_rank(const char *line, size_t len, size_t *skip)
{
    const char *p = line, *end = line + len;
    uint64_t job, rank;

    if (p == end || *p++ != '[')
        return -1;
    if (parse_u64(&p, end, UINT32_MAX, &job) != 0 || p == end || *p++ != ',')
        return -1;
    if (parse_u64(&p, end, INT32_MAX, &rank) != 0 || p == end || *p++ != ']')
        return -1;
    static const char *const streams[] = {"<stdout>:", "<stderr>:"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(streams); i++) {
        size_t n = strlen(streams[i]);
        if ((size_t)(end - p) >= n && memcmp(p, streams[i], n) == 0) {
            *skip = (size_t)(p + n - line);
            return (int)rank;
        }
    }
    return -1;
}

int launch_hostfile_slots(const char *text, size_t len, int *slots,
                          struct kiln_diag *d)
{
    const char *p = text, *end = text + len;
    int total = 0, lineno = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *hash = memchr(p, '#', (size_t)(eol - p));
        const char *stop = hash ? hash : eol;
        lineno++;
        while (p < stop && isspace((unsigned char)*p))
            p++;
        if (p < stop) {
            uint64_t n = 1;
            /* Words after the host name: slots=N, max_slots=N, ... */
            for (const char *w = p; w < stop;) {
                while (w < stop && !isspace((unsigned char)*w))
                    w++;
                while (w < stop && isspace((unsigned char)*w))
                    w++;
                if ((size_t)(stop - w) >= 6 && memcmp(w, "slots=", 6) == 0) {
                    const char *v = w + 6;
                    if (parse_u64(&v, stop, 1 << 20, &n) != 0 || n == 0 ||
                        (v < stop && !isspace((unsigned char)*v)))
                        return diag_set(d, KILN_EINVAL,
                                        "hostfile line %d: slots must be a "
                                        "positive number",
                                        lineno);
                }
            }
            if (total > (1 << 24))
                return diag_set(d, KILN_ETOOBIG, "hostfile has too many slots");
            total += (int)n;
        }
        p = nl ? nl + 1 : end;
    }
    *slots = total;
    return 0;
}
