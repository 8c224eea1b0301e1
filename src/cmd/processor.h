/*
 * processor.h - runs processing jobs: each on a thread of its own, its
 * S3 inputs linked under a directory that stands for the container's "/"
 * (so /opt/ml/processing/input/x is <job>/root/opt/ml/processing/input/x),
 * the built-in image run as a child process (`kiln algo model-monitor
 * analyze`) or, for any other image, the job's ContainerEntrypoint and
 * ContainerArguments under bubblewrap (the job's /opt/ml, this machine's
 * programs), with the job's Environment, its output lines in the log group
 * /aws/sagemaker/ProcessingJobs, and at the end (S3UploadMode EndOfJob) each
 * output's files put under its S3Uri. Stop, MaxRuntimeInSeconds and usage
 * metering work as for training jobs; a job running when kiln stops runs
 * again from the start at the next start. Any thread.
 */
#ifndef KILN_CMD_PROCESSOR_H
#define KILN_CMD_PROCESSOR_H

#include "base/err.h"
#include "meta/meta.h"
#include "s3/objstore.h"

struct processor;

/* bwrap: the bubblewrap that sandboxes script processing. */
int processor_new(struct meta *meta, struct objstore *store,
                  const char *data_dir, const char *region, const char *bwrap,
                  struct processor **out, struct kiln_diag *d);
void processor_free(struct processor *p);

/* The api_jobs hooks (processing_start, processing_stop). */
int processor_start(void *p, const char *account, const char *name);
int processor_stop(void *p, const char *account, const char *name);

#endif
