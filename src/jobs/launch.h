/*
 * launch.h - multi-instance training as one Open MPI job: the `mpirun`
 * command line, the split of a channel's objects between hosts, and the
 * per-rank tags in mpirun's merged output. All pure functions, so each
 * is tested by golden values (tests/unit/test_launch.c).
 *
 * A job of N instances runs as N ranks in MPMD form: one application
 * context per rank, each with its own working directory and its own
 * SM_INPUT_DIR / SM_MODEL_DIR / SM_OUTPUT_DIR under <job>/algo-<rank+1>,
 * so rank r sees exactly the /opt/ml tree of host algo-(r+1). With
 * remote_trees (cluster hosts without the server's file system) each rank
 * builds that tree itself from what its own rank_env names.
 */
#ifndef KILN_JOBS_LAUNCH_H
#define KILN_JOBS_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct launch_plan {
    const char *mpirun;          /* path of mpirun */
    int ranks;                   /* instances, >= 1 */
    const char *hostfile;        /* NULL: every rank on this machine
                                    (--oversubscribe); else Open MPI's
                                    hostfile of the cluster */
    const char *mpi_options;     /* extra mpirun options separated by blanks,
                                    or NULL */
    bool as_root;                /* add --allow-run-as-root */
    const char *job_dir;         /* rank r works in <job_dir>/algo-<r+1> */
    const char *const *env;      /* NAME=VALUE for every rank, NULL-ended */
    const char *const *rank_env; /* NULL, or one NAME=VALUE per rank */
    bool remote_trees;           /* ranks build their own trees from
                                    rank_env's KILN_HOST_SPEC: they start in
                                    /tmp, without SM_*_DIR */
    const char *const *cmd;      /* each rank's program and arguments */
};

/*
 * Builds the mpirun argv for plan: a NULL-terminated array of owned
 * strings in *argv (launch_argv_free). KILN_EINVAL when the plan is
 * empty (no ranks, no command).
 */
int launch_argv(const struct launch_plan *plan, char ***argv);
void launch_argv_free(char **argv);

/*
 * The host (0-based) that gets object `index` of a channel's `count`
 * objects, listed in key order, under ShardedByS3Key with `hosts` hosts:
 * round robin, so every host gets floor or ceil of count/hosts objects
 * and, with one object per host (the SDK's record_set() shards), host i
 * gets shard i.
 */
int launch_shard_host(size_t index, size_t count, int hosts);

/*
 * Parses the tag mpirun --tag-output puts before each line of a rank,
 * "[<job>,<rank>]<stdout>:" or "<stderr>:". Returns the rank and sets
 * *skip to the tag's length, or returns -1 for an untagged line (mpirun's
 * own messages).
 */
int launch_tag_rank(const char *line, size_t len, size_t *skip);

/*
 * Counts the slots of an Open MPI hostfile's text: one line per host,
 * "name [slots=N] ...", # comments; a host without slots= counts 1.
 * KILN_EINVAL with the line number for a slots value that is not a
 * positive number.
 */
int launch_hostfile_slots(const char *text, size_t len, int *slots,
                          struct kiln_diag *d);

#endif
