/*
 * metrics_store.h - the metadata store the CloudWatch fuzz targets run
 * against: a temporary one, made on first use and removed at exit, with
 * a few minutes of endpoint metrics for endpoint "ep", variant
 * "AllTraffic" of account 111122223333, and the caller they run as.
 */
#ifndef KILN_FUZZ_METRICS_STORE_H
#define KILN_FUZZ_METRICS_STORE_H

#include <stdio.h>
#include <stdlib.h>

#include "api/dispatch.h"
#include "base/fsx.h"
#include "base/tm.h"
#include "meta/meta.h"

static struct meta *metrics_store_m;
static char metrics_store_dir[] = "/tmp/kiln-fuzz-metrics-XXXXXX";

static void metrics_store_cleanup(void)
{
    meta_close(metrics_store_m);
    fsx_remove_tree(metrics_store_dir);
}

static struct meta *metrics_store(void)
{
    struct kiln_diag d = {0};
    char path[64];

    if (metrics_store_m || !mkdtemp(metrics_store_dir))
        return metrics_store_m;
    atexit(metrics_store_cleanup);
    snprintf(path, sizeof(path), "%s/kiln.db", metrics_store_dir);
    if (meta_open(path, &metrics_store_m, &d) != 0)
        return NULL;
    int64_t minute = (int64_t)(tm_now() / 60);
    for (int i = 0; i < 3; i++) {
        struct meta_emetric e = {.account = "111122223333",
                                 .endpoint = "ep",
                                 .variant = "AllTraffic",
                                 .name = i ? "ModelLatency" : "Invocations",
                                 .minute = minute - i,
                                 .n = 2,
                                 .sum = 10,
                                 .min = 1,
                                 .max = 9};
        meta_emetric_add(metrics_store_m, &e);
    }
    return metrics_store_m;
}

/* The caller the targets run as: the store's account, over the store. */
static struct api_ctx metrics_caller(void)
{
    return (struct api_ctx){.meta = metrics_store(),
                            .account = "111122223333",
                            .user = "fuzz",
                            .akid = "AKIAFUZZ",
                            .region = "us-east-1",
                            .request_id =
                                "00000000-0000-4000-8000-000000000000"};
}

/* Runs one JSON 1.1 request of operation `target` as the front door
 * does (the answer is dropped). */
static inline void metrics_dispatch(const struct api_ctx *c,
                                    const char *service, const char *target,
                                    const uint8_t *body, size_t len)
{
    const struct api_op *op = api_op_find(service, target);
    struct buf out = BUF_INIT(16u << 20);
    struct kiln_diag d = {0};
    if (op)
        api_dispatch(op, c, (const char *)body, len, &out, &d);
    buf_release(&out);
}

#endif
