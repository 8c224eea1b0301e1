/*
 * sandbox.h - the bubblewrap command line that runs a user's own code
 * (script mode) with nothing of the host but its programs and the job's
 * /opt/ml tree. Pure functions, tested by golden argv lists
 * (tests/unit/test_launch.c), but for the address slots of running jobs
 * and the /etc/hosts file written for them.
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

#include "base/buf.h"
#include "base/err.h"

struct sandbox_plan {
    const char *bwrap;            /* path of bwrap */
    const char *rootfs;           /* NULL: the host's programs; else the
                                     image root file system to run in */
    const char *tree;             /* host directory seen as /opt/ml */
    const char *const *read_only; /* sub-directories of tree kept
                                     read-only inside, NULL-ended */
    const char *hostname;         /* e.g. "algo-1" */
    const char *hosts_file;       /* bound at /etc/hosts, or NULL; with
                                     rootfs, the image must have one */
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
 * The instances of a job that share the host's network tell each other
 * apart by address, as SageMaker's do by their own IPs: algo-h of the job
 * in slot s (0 <= s < SANDBOX_SLOTS, one per job running at once) is
 * 127.(128+s).((h-1)/254).((h-1)%254+1), all on the loopback device, so
 * that two instances, or two jobs' instances, can listen on the same
 * port. SANDBOX_MAX_HOSTS instances at most.
 */
#define SANDBOX_SLOTS     127
#define SANDBOX_MAX_HOSTS (254 * 256)

/* A free slot for a job's instances (until sandbox_slot_give), or -1 when
 * SANDBOX_SLOTS jobs hold one. Any thread: the only state of this
 * module. */
int sandbox_slot_take(void);
void sandbox_slot_give(int slot);

/* Writes algo-host's address in the job of slot into out (>= 16 bytes). */
void sandbox_host_address(int slot, int host, char *out, size_t size);

/* The /etc/hosts of the job's instances: localhost, then algo-1 to
 * algo-<hosts> at their addresses. */
void sandbox_hosts_text(int slot, int hosts, struct buf *out);

/*
 * Takes a slot for a job of `hosts` instances (*slot; the caller gives it
 * back) and writes their /etc/hosts as <dir>/hosts, whose path goes to
 * path. With rootfs (an image), only over an /etc/hosts file of the
 * image's own, which it must have to bind on (else path is ""). A
 * ClientError (KILN_ELIMIT) when no slot is free or hosts is too many.
 */
int sandbox_hosts_prepare(const char *dir, int hosts, const char *rootfs,
                          int *slot, char *path, size_t size,
                          struct kiln_diag *d);

/*
 * A new network namespace with only its loopback device, up: an open
 * descriptor of it (close() frees it once nothing runs in it), for the
 * instances of a network-isolated job to share (proc's netns_fd; their
 * plans then share the network they start in). -1 with errno when it
 * cannot be made (it needs CAP_SYS_ADMIN).
 */
int sandbox_netns_new(void);

/*
 * Builds bwrap's argv for plan: a NULL-terminated array of owned strings
 * in *argv (launch_argv_free). KILN_EINVAL when the plan has no bwrap,
 * tree or command.
 */
int sandbox_argv(const struct sandbox_plan *plan, char ***argv);

#endif
