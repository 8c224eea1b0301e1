/*
 * fuzz_monitor.c - Model Monitor's analyzer on what a user's bucket holds:
 * the first byte chooses how the rest is read (CSV with or without header,
 * or data capture records); the dataset is then checked against a baseline
 * suggested from it and against the input read as baseline documents
 * ("<statistics JSON>\n<constraints JSON>"), violations and CloudWatch
 * metrics both.
 */
#include <string.h>

#include "algos/monitor/monitor.h"
#include "base/mem.h"
#include "fuzz.h"

static void check(struct mon_table *t, json_t *stats, json_t *cons)
{
    struct kiln_diag d = {0};
    json_t *v = NULL;
    if (mon_violations(t, stats, cons, &v, &d) == 0)
        json_decref(v);
    json_decref(mon_metrics(t, stats, cons));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct mon_table t;
    struct kiln_diag d = {0};

    mon_table_init(&t);
    if (mode & 1)
        mon_read_capture(&t, p, n, 0, (mode & 2) ? 2e9 : 0, &d);
    else
        mon_read_csv(&t, p, n, mode & 2, &d);
    json_t *stats = mon_statistics(&t), *cons = mon_constraints(&t);
    check(&t, stats, cons);
    json_decref(stats);
    json_decref(cons);

    /* The same bytes as a baseline's two documents. */
    const char *nl = memchr(p, '\n', n);
    stats = json_loadb(p, nl ? (size_t)(nl - p) : n, 0, NULL);
    cons = nl ? json_loadb(nl + 1, n - (size_t)(nl + 1 - p), 0, NULL) : NULL;
    char **names = NULL;
    size_t nnames = 0;
    if (stats && mon_baseline_names(stats, &names, &nnames, &d) == 0) {
        struct mon_table named;
        mon_table_init(&named);
        mon_table_names(&named, (const char *const *)names, nnames);
        mon_read_csv(&named, "1,a,,2.5\nx,3,4\n", 15, false, &d);
        check(&named, stats, cons);
        mon_table_release(&named);
        for (size_t i = 0; i < nnames; i++)
            mem_free(names[i]);
        mem_free(names);
    }
    json_decref(stats);
    json_decref(cons);
    mon_table_release(&t);
    return 0;
}
