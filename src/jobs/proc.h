/*
 * proc.h - child processes for jobs (STYLE.md K12, after git's
 * run-command and libuv's uv_spawn).
 *
 * Lifecycle: proc_start() forks and execs argv (never through a shell)
 * with exactly envp, in cwd, as the leader of a new process group, with
 * stdout and stderr joined into one pipe the parent reads from out_fd.
 * Every other descriptor is close-on-exec. Failures before exec (chdir,
 * execve) travel back on a close-on-exec pipe and make proc_start() fail
 * with the real errno, leaving nothing running. proc_signal() signals the
 * whole group (so an algorithm's own children stop too); proc_wait()
 * reaps. A child is killed when the thread that started it dies
 * (PR_SET_PDEATHSIG), so a crashed server leaves no job running. The caller
 * owns out_fd and closes it with proc_release().
 */
#ifndef KILN_JOBS_PROC_H
#define KILN_JOBS_PROC_H

#include <sys/types.h>

#include "base/err.h"

struct proc {
    pid_t pid;          /* > 0 while started and not reaped */
    int out_fd;         /* read end of stdout+stderr, or -1 */
    uint64_t mem_limit; /* set before start: address-space cap in bytes
                           (RLIMIT_AS), 0 for none; not applied in
                           sanitizer builds, whose shadow memory needs
                           terabytes of address space */
    int exit_status;    /* once reaped: what proc_wait() gave */
    int netns_fd;       /* set before start: a network namespace to run
                           in (an open nsfs descriptor), or -1 */
    bool excused;       /* stopped because its work is done (proc_pump's
                           followers): however it ends counts as 0 */
};

void proc_init(struct proc *p);

/* Starts argv[0] (a path) with envp (NULL-terminated arrays, borrowed). */
int proc_start(struct proc *p, const char *const *argv, const char *const *envp,
               const char *cwd, struct kiln_diag *d);

/* Sends sig to the process group. */
void proc_signal(struct proc *p, int sig);

/* Waits for exit; *status is the exit code, or 128 + signal. With
 * nohang, returns KILN_CONTINUE while it still runs. */
int proc_wait(struct proc *p, bool nohang, int *status);

/*
 * Reading the output of one or several children: every line of child i
 * goes to line(ctx, i, text, len) (without its '\n'; one longer than
 * max_line in pieces of that size). Every 100 ms, check(ctx) may give a
 * reason to stop the children (NULL: none); the first one is kept in
 * *why, the children get SIGTERM, and SIGKILL `grace` seconds later.
 * A child whose output has ended is reaped as soon as it exits (its
 * exit_status set). With fail_together, the first child to exit with a
 * non-zero status stops the others the same way, and its index goes to
 * *first_failure (else n), as the instances of one job fail together.
 * With followers, the child `leader` exiting 0 stops those children i
 * with followers[i] the same way (MPI workers, which serve the leader
 * until it is done), and excuses them: their exit counts as 0.
 */
struct proc_pump {
    size_t max_line;
    double grace;
    const char *(*check)(void *ctx);
    void (*line)(void *ctx, size_t child, const char *text, size_t len);
    void *ctx;
    bool fail_together;
    size_t *first_failure; /* with fail_together, or NULL */
    const bool *followers; /* n flags, or NULL */
    size_t leader;
};

/* Reads the n children's output until EOF on every one (each has exited
 * or closed it). */
void proc_pump(struct proc *ps, size_t n, const struct proc_pump *o,
               const char **why);

/* Waits for every child of ps[n] not reaped yet (each exit_status set)
 * and tells which failed: `failed` when it is one (proc_pump's
 * first_failure), else the first with a non-zero status, else n. */
size_t proc_wait_all(struct proc *ps, size_t n, size_t failed);

/* Closes out_fd; kills and reaps a still-running child. */
void proc_release(struct proc *p);

#endif
