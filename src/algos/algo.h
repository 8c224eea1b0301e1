/*
 * algo.h - what every built-in algorithm shares: the container contract's
 * paths, its log-line format, and the failure file.
 *
 * Built-ins behave exactly like a bring-your-own image: they read
 * <input>/config/{hyperparameters,inputdataconfig,resourceconfig}.json
 * and <input>/data/<channel>/, write <model>/ and, on failure,
 * <output>/failure. Log lines go to stdout in the real containers' format,
 * "[MM/DD/YYYY HH:MM:SS INFO 140...] message", which the metric regexes of
 * SageMaker's built-ins match. Any thread.
 */
#ifndef KILN_ALGOS_ALGO_H
#define KILN_ALGOS_ALGO_H

#include <jansson.h>

#include "base/err.h"
#include "ml/comm.h"

struct algo_args {
    const char *input_dir;  /* /opt/ml/input or an override */
    const char *model_dir;  /* /opt/ml/model */
    const char *output_dir; /* /opt/ml/output */
    /* Standalone runs on local files (data != NULL): no config files. */
    const char *data; /* training file */
    const char *test; /* optional test file */
    const char *content_type;
    json_t *hyperparameters; /* borrowed string map, standalone only */
    struct comm *comm;       /* the job's hosts (NULL: one host) */
};

/* Writes one log line to stdout. */
void algo_log(const char *level, const char *fmt, ...) KILN_PRINTF(2, 3);

/*
 * Records a failure: writes `ClientError: <message>` (user errors) or the
 * message as given to <output>/failure, logs it, and returns exit status 2
 * (client error) or 1.
 */
int algo_fail(const struct algo_args *a, bool client_error, const char *msg);

/* Reads a JSON file into a new reference (caller json_decref's). */
int algo_read_json(const char *path, json_t **out, struct kiln_diag *d);

/*
 * The files of channel `name` in sorted order (regular files, recursively;
 * names starting with '.' skipped). *paths is an array of owned strings
 * (algo_free_paths). KILN_ENOTFOUND when the channel directory is missing.
 */
int algo_channel_files(const char *input_dir, const char *name, char ***paths,
                       size_t *n, struct kiln_diag *d);
void algo_free_paths(char **paths, size_t n);

#endif
