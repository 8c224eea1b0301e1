/*
 * trainer.h - runs training jobs: the scheduler and the per-job runner
 * that wires the metadata store, the object store and child processes
 * together (which is why it lives in cmd/, the only folder that may).
 *
 * A job moves Starting -> Downloading -> Training -> Uploading ->
 * Completed (or Failed, Stopped, MaxRuntimeExceeded), each step recorded in
 * its DescribeTrainingJob document as SageMaker reports it. Each running
 * job has a thread; at most max_jobs run at once, the rest wait. Logs go
 * to CloudWatch-style streams, metrics are matched on every line, usage is
 * metered per instance-second. trainer_free() stops every job and waits
 * for its thread. The api_jobs ops it exports may be called from any
 * thread.
 */
#ifndef KILN_CMD_TRAINER_H
#define KILN_CMD_TRAINER_H

#include "api/dispatch.h"
#include "s3/objstore.h"

struct trainer;

struct trainer_opts {
    struct meta *meta;      /* borrowed */
    struct objstore *store; /* borrowed */
    const char *data_dir;   /* jobs/ is created under it */
    const char *region;
    int max_jobs;            /* concurrent jobs, >= 1 */
    int max_instances;       /* a job's InstanceCount, >= 1 */
    int stop_grace_seconds;  /* SIGTERM -> SIGKILL */
    bool keep_dirs;          /* leave finished jobs' trees in place */
    const char *mpirun;      /* multi-instance jobs: mpirun's path */
    const char *hostfile;    /* NULL: ranks on this machine */
    const char *mpi_options; /* extra mpirun options, or NULL */
    const char *cluster_url; /* with hostfile: hosts fetch their trees
                                from this URL of the server, or NULL */
    const char *bwrap;       /* script mode: bubblewrap's path */
    const char *python;      /* script mode: the Python of entry points */
};

/* Also marks jobs a previous run left InProgress as Failed. */
int trainer_new(const struct trainer_opts *o, struct trainer **out,
                struct kiln_diag *d);
void trainer_free(struct trainer *t);

/* The api_jobs the control plane calls (valid while t lives). */
const struct api_jobs *trainer_api(struct trainer *t);

#endif
