/*
 * proc.c - fork/exec with an error pipe. Between fork and exec the child
 * only calls async-signal-safe functions.
 */
#include "jobs/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/tm.h"

void proc_init(struct proc *p)
{
    p->pid = 0;
    p->out_fd = -1;
    p->mem_limit = 0;
    p->exit_status = -1;
    p->netns_fd = -1;
    p->excused = false;
}

int proc_start(struct proc *p, const char *const *argv, const char *const *envp,
               const char *cwd, struct kiln_diag *d)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1}, child_errno = 0;
    pid_t pid;
    ssize_t n;

    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        if (out[0] >= 0) {
            close(out[0]);
            close(out[1]);
        }
        return diag_set(d, KILN_EIO, "cannot create pipes: %s", strerror(e));
    }
    pid_t parent = getpid();
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        return diag_set(d, KILN_EIO, "cannot fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setpgid(0, 0);
        /* If kiln dies, its jobs die with it (and are failed on restart). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(out[1], STDOUT_FILENO) < 0 ||
            dup2(out[1], STDERR_FILENO) < 0 || (cwd && chdir(cwd) != 0) ||
            (p->netns_fd >= 0 && setns(p->netns_fd, CLONE_NEWNET) != 0)) {
            int e = errno;
            if (write(err[1], &e, sizeof(e)) < 0) {
                /* nothing to do */
            }
            _exit(127);
        }
#ifndef KILN_SANITIZED
        if (p->mem_limit) {
            struct rlimit lim = {p->mem_limit, p->mem_limit};
            setrlimit(RLIMIT_AS, &lim);
        }
#endif
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0 && nul != STDIN_FILENO) {
            dup2(nul, STDIN_FILENO);
            close(nul);
        }
        execve(argv[0], (char *const *)(uintptr_t)argv,
               (char *const *)(uintptr_t)envp);
        int e = errno;
        if (write(err[1], &e, sizeof(e)) < 0) {
            /* nothing to do */
        }
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent, to win the race */
    close(out[1]);
    close(err[1]);
    do
        n = read(err[0], &child_errno, sizeof(child_errno));
    while (n < 0 && errno == EINTR);
    close(err[0]);
    if (n == (ssize_t)sizeof(child_errno)) {
        int status;
        waitpid(pid, &status, 0);
        close(out[0]);
        return diag_set(d, KILN_EIO, "cannot start %s: %s", argv[0],
                        strerror(child_errno));
    }
    p->pid = pid;
    p->out_fd = out[0];
    return 0;
}

void proc_signal(struct proc *p, int sig)
{
    if (p->pid > 0)
        kill(-p->pid, sig);
}

int proc_wait(struct proc *p, bool nohang, int *status)
{
    int st;
    pid_t r;

    if (p->pid <= 0)
        return KILN_EINVAL;
    do
        r = waitpid(p->pid, &st, nohang ? WNOHANG : 0);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return KILN_CONTINUE;
    if (r < 0)
        return KILN_EIO;
    p->pid = 0;
    *status = p->excused      ? 0
              : WIFEXITED(st) ? WEXITSTATUS(st)
                              : 128 + WTERMSIG(st);
    p->exit_status = *status;
    return 0;
}

size_t proc_wait_all(struct proc *ps, size_t n, size_t failed)
{
    for (size_t i = 0; i < n; i++) {
        int st = ps[i].exit_status;
        if (ps[i].pid > 0 && proc_wait(&ps[i], false, &st) != 0)
            st = ps[i].exit_status = 128 + SIGKILL;
        if (st != 0 && failed >= n)
            failed = i;
    }
    return failed < n ? failed : n;
}

void proc_release(struct proc *p)
{
    int st;
    if (p->pid > 0) {
        proc_signal(p, SIGKILL);
        proc_wait(p, false, &st);
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
}

/* Hands the complete lines of pending to o->line as child i's. */
static void pump_lines(const struct proc_pump *o, size_t i, struct buf *pending)
{
    char *start = pending->data, *nl;
    while ((nl = memchr(start, '\n',
                        pending->len - (size_t)(start - pending->data)))) {
        o->line(o->ctx, i, start, (size_t)(nl - start));
        start = nl + 1;
    }
    size_t rest = pending->len - (size_t)(start - pending->data);
    if (rest > o->max_line) {
        o->line(o->ctx, i, start, rest);
        rest = 0;
    }
    memmove(pending->data, start, rest);
    pending->len = rest;
}

void proc_pump(struct proc *ps, size_t n, const struct proc_pump *o,
               const char **why)
{
    struct buf *pending = xcalloc(n, sizeof(*pending));
    struct pollfd *pfd = xcalloc(n, sizeof(*pfd));
    size_t open_fds = n, failed = n;
    double term_at = 0;
    double led_at = 0; /* when the leader ended */
    char chunk[65536];

    for (size_t i = 0; i < n; i++) {
        buf_init(&pending[i], o->max_line + 65536);
        pfd[i] = (struct pollfd){ps[i].out_fd, POLLIN, 0};
        if (ps[i].out_fd < 0)
            open_fds--;
    }
    while (open_fds > 0) {
        int ready = poll(pfd, n, 100);
        double now = tm_now();
        /* Children whose output has ended: reaped once they exit. */
        for (size_t i = 0; i < n; i++) {
            int st;
            if (pfd[i].fd >= 0 || ps[i].pid <= 0 ||
                proc_wait(&ps[i], true, &st) != 0)
                continue;
            if (o->fail_together && st != 0 && failed == n)
                failed = i;
            if (o->followers && i == o->leader && st == 0 && led_at == 0) {
                led_at = now;
                for (size_t f = 0; f < n; f++) {
                    if (!o->followers[f])
                        continue;
                    ps[f].excused = true;
                    proc_signal(&ps[f], SIGTERM);
                }
            }
        }
        for (size_t f = 0; led_at > 0 && now - led_at > o->grace && f < n; f++)
            if (o->followers[f])
                proc_signal(&ps[f], SIGKILL);
        if (!*why)
            *why = o->check(o->ctx);
        if ((*why || failed < n) && term_at == 0) {
            for (size_t i = 0; i < n; i++)
                proc_signal(&ps[i], SIGTERM);
            term_at = now;
        }
        if (term_at > 0 && now - term_at > o->grace)
            for (size_t i = 0; i < n; i++)
                proc_signal(&ps[i], SIGKILL);
        for (size_t i = 0; ready > 0 && i < n; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            ssize_t got = read(pfd[i].fd, chunk, sizeof(chunk));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                if (pending[i].len)
                    o->line(o->ctx, i, pending[i].data, pending[i].len);
                pending[i].len = 0;
                pfd[i].fd = -1; /* poll skips it; proc_release closes */
                open_fds--;
                continue;
            }
            buf_add(&pending[i], chunk, (size_t)got);
            pump_lines(o, i, &pending[i]);
        }
    }
    if (o->first_failure)
        *o->first_failure = failed;
    for (size_t i = 0; i < n; i++)
        buf_release(&pending[i]);
    mem_free(pending);
    mem_free(pfd);
}
