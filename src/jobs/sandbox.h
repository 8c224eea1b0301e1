/*
 * sandbox.h - the bubblewrap command line that runs a user's own code
 * (script mode) with nothing of the host but its programs and the job's
 * /opt/ml tree. A pure function, tested by golden argv lists
 * (tests/unit/test_launch.c).
 *
 * Inside the sandbox: /usr (and /bin, /lib, ... as on the host), the
 * parts of /etc that Python and its libraries read, a fresh /proc, /dev
 * and /tmp, all read-only but /tmp; or, for a bring-your-own image
 * (rootfs), that image's root file system, read-only, instead of the
 * host's programs; the host tree at /opt/ml, writable
 * but for the sub-directories listed read-only (input/: channel files
 * are links to the object store's blobs). No other file of the host, so
 * neither kiln's data directory nor other jobs. New PID, IPC, UTS (the
 * host name is the instance's, algo-N), cgroup and user namespaces, no
 * capabilities, and no network unless asked for. The sandbox dies with
 * its parent.
 */
#ifndef KILN_JOBS_SANDBOX_H
#define KILN_JOBS_SANDBOX_H

#include <stdbool.h>

#include "base/err.h"

struct sandbox_plan {
    const char *bwrap;            /* path of bwrap */
    const char *rootfs;           /* NULL: the host's programs; else the
                                     image root file system to run in */
    const char *tree;             /* host directory seen as /opt/ml */
    const char *const *read_only; /* sub-directories of tree kept
                                     read-only inside, NULL-ended */
    const char *hostname;         /* e.g. "algo-1" */
    const char *chdir;            /* working directory inside */
    const char *const *binds;     /* more mounts: NULL-ended triples of
                                     "ro" or "rw", host path, path
                                     inside */
    bool network;                 /* share the host's network */
    const char *const *cmd;       /* the program and its arguments */
};

/* The mountpoint of the host tree inside the sandbox. */
#define SANDBOX_ROOT "/opt/ml"

/*
 * Builds bwrap's argv for plan: a NULL-terminated array of owned strings
 * in *argv (launch_argv_free). KILN_EINVAL when the plan has no bwrap,
 * tree or command.
 */
int sandbox_argv(const struct sandbox_plan *plan, char ***argv);

#endif
