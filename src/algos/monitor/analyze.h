/*
 * analyze.h - `kiln algo model-monitor analyze`, the entry point of the
 * built-in Model Monitor analyzer image (see analyze.c for its
 * environment). One call per process.
 */
#ifndef KILN_ALGOS_MONITOR_ANALYZE_H
#define KILN_ALGOS_MONITOR_ANALYZE_H

#include "base/err.h"

/* The analyzer's settings: Model Monitor's environment variables. */
struct monitor_opts {
    const char *root;        /* stands for "/" (NULL: paths as they are) */
    const char *format;      /* dataset_format */
    const char *source;      /* dataset_source */
    const char *output;      /* output_path */
    const char *statistics;  /* baseline_statistics */
    const char *constraints; /* baseline_constraints */
    const char *start_time, *end_time;
    const char *publish;             /* publish_cloudwatch_metrics */
    const char *endpoint, *schedule; /* the metrics' dimensions */
};

/*
 * Suggests a baseline (statistics.json, constraints.json) or, with a
 * baseline's constraints, checks the dataset against it (statistics.json,
 * constraint_violations.json). Returns 0, KILN_EINVAL for the user's
 * error (bad dataset, format or baseline; no data), or another code, with
 * the diag set.
 */
int monitor_analyze(const struct monitor_opts *o, struct kiln_diag *d);

#endif
