/*
 * signals.c - waiting for SIGINT or SIGTERM.
 *
 * Libraries start threads before main() (OpenBLAS does), so blocking the
 * signals and calling sigwait() cannot guarantee that the kernel picks the
 * main thread; a handler that writes the signal number to a pipe works
 * whichever thread it runs on, and the main thread reads the pipe.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static int pipe_fds[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(pipe_fds[1], &b, 1) < 0) {
        /* the pipe is full: a signal is already pending */
    }
    errno = saved;
}

int cmd_signals_setup(void)
{
    struct sigaction sa;

    if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return KILN_EIO;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int cmd_signals_wait(void)
{
    unsigned char b = 0;
    int flags = fcntl(pipe_fds[0], F_GETFL);
    fcntl(pipe_fds[0], F_SETFL, flags & ~O_NONBLOCK);
    while (read(pipe_fds[0], &b, 1) < 0 && errno == EINTR)
        ;
    return b;
}

void cmd_signals_release(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (pipe_fds[0] >= 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
    }
    pipe_fds[0] = pipe_fds[1] = -1;
}
