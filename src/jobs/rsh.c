/*
 * rsh.c - mpirun's remote shell between a job's sandboxes (see rsh.h).
 */
#include "jobs/rsh.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsx.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

#define MAGIC        "KILN-RSH 1 "
#define CONNECT_WAIT 300.0 /* seconds a client waits for its server */
#define REQUEST_WAIT 10.0  /* seconds a server waits for a whole request */

bool rsh_token_new(char out[RSH_TOKEN_LEN + 1])
{
    unsigned char raw[RSH_TOKEN_LEN / 2];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return false;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return true;
}

bool rsh_request(const char *token, int argc, char **argv, struct buf *out)
{
    struct buf cmd = BUF_INIT(RSH_CMD_MAX);
    int rc = 0;

    for (int i = 0; !rc && i < argc; i++)
        rc = buf_addf(&cmd, "%s%s", i ? " " : "", argv[i]);
    bool ok = !rc && cmd.len > 0 &&
              buf_addf(out, MAGIC "%s %zu\n", token, cmd.len) == 0 &&
              buf_add(out, cmd.data, cmd.len) == 0;
    buf_release(&cmd);
    return ok;
}

int rsh_parse(const char *in, size_t len, const char *token, char **cmd)
{
    size_t magic = strlen(MAGIC), head;
    const char *nl = memchr(in, '\n', len < 256 ? len : 256);
    char *end;

    *cmd = NULL;
    if (memcmp(in, MAGIC, len < magic ? len : magic) != 0)
        return -1;
    if (!nl)
        return len < 256 ? 0 : -1;
    head = (size_t)(nl - in) + 1;
    /* <token> <length>\n after the magic */
    if (head < magic + RSH_TOKEN_LEN + 3 || in[magic + RSH_TOKEN_LEN] != ' ' ||
        strlen(token) != RSH_TOKEN_LEN ||
        CRYPTO_memcmp(in + magic, token, RSH_TOKEN_LEN) != 0)
        return -1;
    const char *digits = in + magic + RSH_TOKEN_LEN + 1;
    if (*digits < '0' || *digits > '9')
        return -1;
    unsigned long n = strtoul(digits, &end, 10);
    if (end != nl || n == 0 || n > RSH_CMD_MAX)
        return -1;
    if (len - head < n)
        return 0;
    if (len - head > n || memchr(in + head, '\0', n))
        return -1;
    *cmd = xstrndup(in + head, n);
    return 1;
}

static bool read_token(const char *file, char token[RSH_TOKEN_LEN + 1])
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, token, RSH_TOKEN_LEN) : -1;

    if (fd >= 0)
        close(fd);
    if (n != RSH_TOKEN_LEN) {
        fprintf(stderr, "kiln rsh: cannot read the job's token from %s\n",
                file);
        return false;
    }
    token[RSH_TOKEN_LEN] = '\0';
    return true;
}

static int resolve(const char *host, struct addrinfo **ai)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    char port[16];

    snprintf(port, sizeof(port), "%d", RSH_PORT);
    return getaddrinfo(host, port, &hints, ai);
}

/* ---- the client: mpirun's agent -------------------------------------- */

static int connect_to(const char *host)
{
    double until = tm_now() + CONNECT_WAIT;
    int last = 0;

    /* The other instance may not listen yet: the toolkit's master waits
     * for its workers' sshd the same way. */
    for (;;) {
        struct addrinfo *ai = NULL;
        int fd = -1;
        last = resolve(host, &ai);
        if (last == 0) {
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                last = errno;
                close(fd);
                fd = -1;
            }
            freeaddrinfo(ai);
        }
        if (fd >= 0)
            return fd;
        if (tm_now() > until)
            break;
        usleep(100 * 1000);
    }
    fprintf(stderr, "kiln rsh: cannot reach %s port %d: %s\n", host, RSH_PORT,
            last > 0 ? strerror(last) : "no such host");
    return -1;
}

int rsh_client(const char *token_file, const char *host, int argc, char **argv)
{
    char token[RSH_TOKEN_LEN + 1], answer[32];
    struct buf req = BUF_INIT(RSH_CMD_MAX + 256);
    size_t got = 0;
    int fd, rc = 255;

    if (argc < 1 || !read_token(token_file, token))
        return 255;
    bool ok = rsh_request(token, argc, argv, &req);
    explicit_bzero(token, sizeof(token));
    if (!ok) {
        fprintf(stderr,
                "kiln rsh: the command is empty or longer than %d "
                "bytes\n",
                RSH_CMD_MAX);
        buf_release(&req);
        return 255;
    }
    fd = connect_to(host);
    if (fd >= 0 && fsx_write_all(fd, req.data, req.len)) {
        /* The answer comes when the command ends. */
        while (got < sizeof(answer) - 1) {
            ssize_t n = read(fd, answer + got, sizeof(answer) - 1 - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        answer[got] = '\0';
        char *end;
        long st = strtol(answer, &end, 10);
        if (got && *end == '\n' && st >= 0 && st <= 255)
            rc = (int)st;
        else
            fprintf(stderr, "kiln rsh: %s refused the command\n", host);
    }
    if (fd >= 0)
        close(fd);
    buf_release(&req);
    return rc;
}

/* ---- the server: the worker instance --------------------------------- */

static volatile sig_atomic_t terminated;

static void on_term(int sig)
{
    (void)sig;
    terminated = 1;
}

static int listen_on(const char *host)
{
    struct addrinfo *ai = NULL;
    int fd = -1, one = 1, err = resolve(host, &ai);

    if (err != 0) {
        fprintf(stderr, "kiln rshd: cannot resolve %s: %s\n", host,
                gai_strerror(err));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 8) != 0) {
        fprintf(stderr, "kiln rshd: cannot listen on %s port %d: %s\n", host,
                RSH_PORT, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Reads one request from a new connection within REQUEST_WAIT: its
 * command, or NULL. */
static char *read_request(int fd, const char *token)
{
    struct buf in = BUF_INIT(RSH_CMD_MAX + 256);
    double until = tm_now() + REQUEST_WAIT;
    char chunk[4096], *cmd = NULL;
    int r = 0;

    while (r == 0 && !terminated) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)((until - tm_now()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        buf_add(&in, chunk, (size_t)n);
        r = rsh_parse(in.data, in.len, token, &cmd);
    }
    buf_release(&in);
    return r == 1 ? cmd : NULL;
}

/* Runs cmd with sh -c in a process group of its own until it ends, the
 * connection closes or SIGTERM comes: its status, or -1 when stopped. */
static int run(int conn, const char *cmd)
{
    pid_t pid = fork();
    int st = 0;
    double kill_at = 0;

    if (pid < 0)
        return 255;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        if (null >= 0)
            dup2(null, 0);
        signal(SIGTERM, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        struct pollfd p = {conn, POLLIN | POLLRDHUP, 0};
        char c;
        bool gone =
            poll(&p, 1, 200) > 0 && (p.revents & (POLLRDHUP | POLLHUP) ||
                                     recv(conn, &c, 1, MSG_DONTWAIT) == 0);
        if ((gone || terminated) && kill_at == 0) {
            kill(-pid, SIGTERM);
            kill_at = tm_now() + 5;
        } else if (kill_at > 0 && tm_now() > kill_at) {
            kill(-pid, SIGKILL);
        }
    }
    if (kill_at > 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Signals the children, adopted ones too, and their process groups. */
static void signal_children(int sig)
{
    char path[64], list[4096];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? read(fd, list, sizeof(list) - 1) : -1;
    if (fd >= 0)
        close(fd);
    list[n > 0 ? n : 0] = '\0';
    for (char *p = list, *end; *p; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 1) {
            pid_t group = getpgid((pid_t)pid);
            kill((pid_t)pid, sig);
            if (group > 1 && group != getpgrp())
                kill(-group, sig);
        }
    }
}

/*
 * What the command left running: Open MPI's orted daemonizes, and the
 * toolkit's worker waits for it to end. As the children's subreaper, the
 * server adopts it and waits until no child is left; SIGTERM stops them.
 */
static void wait_adopted(void)
{
    double kill_at = 0;

    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w < 0 && errno == ECHILD)
            return;
        if (w > 0)
            continue;
        if (terminated && kill_at == 0) {
            signal_children(SIGTERM);
            kill_at = tm_now() + 5;
        } else if (kill_at > 0 && tm_now() > kill_at) {
            signal_children(SIGKILL);
        }
        usleep(100 * 1000);
    }
}

int rsh_server(const char *token_file, const char *host)
{
    char token[RSH_TOKEN_LEN + 1];
    struct sigaction sa = {.sa_handler = on_term};
    int fd;

    if (!read_token(token_file, token))
        return 1;
    sigaction(SIGTERM, &sa, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    fd = listen_on(host);
    if (fd < 0)
        return 1;
    while (!terminated) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 500) <= 0)
            continue;
        int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
            continue;
        char *cmd = read_request(conn, token);
        if (!cmd) {
            (void)fsx_write_all(conn, "refused\n", 8);
            close(conn);
            continue;
        }
        int st = run(conn, cmd);
        if (st >= 0) {
            char answer[16];
            int n = snprintf(answer, sizeof(answer), "%d\n", st);
            (void)fsx_write_all(conn, answer, (size_t)n);
        }
        mem_free(cmd);
        close(conn);
        break;
    }
    close(fd);
    explicit_bzero(token, sizeof(token));
    wait_adopted();
    return 0;
}
