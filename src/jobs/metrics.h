/*
 * metrics.h - a job's metric definitions: Perl-style regexes (PCRE2, as
 * SageMaker's MetricDefinitions are) applied to every log line; the first
 * capture group parsed as a number is a sample. A set is built once per
 * job and then only read, so a job's log readers may share it.
 */
#ifndef KILN_JOBS_METRICS_H
#define KILN_JOBS_METRICS_H

#include "base/err.h"

struct metric_set;

struct metric_set *metric_set_new(void);
void metric_set_free(struct metric_set *s);

/* Adds a definition; KILN_EINVAL with PCRE2's message if the regex is bad
 * or has no capture group. */
int metric_set_add(struct metric_set *s, const char *name, const char *regex,
                   struct kiln_diag *d);

typedef void (*metric_fn)(void *ctx, const char *name, double value);

/* Calls fn for every definition whose regex matches line with a number. */
void metric_set_match(const struct metric_set *s, const char *line, size_t len,
                      metric_fn fn, void *ctx);

#endif
