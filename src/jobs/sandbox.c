/*
 * sandbox.c - bubblewrap's command line (see sandbox.h).
 */
#include "jobs/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/strv.h"

/* What of /etc the host's Python, its libraries and name lookups read:
 * the dynamic loader's cache, the BLAS/LAPACK alternatives numpy loads,
 * users and groups, time zone, certificates. Bound only when present. */
static const char *const etc_files[] = {
    "/etc/ld.so.cache",   "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/alternatives",  "/etc/passwd",     "/etc/group",
    "/etc/nsswitch.conf", "/etc/hosts",      "/etc/resolv.conf",
    "/etc/localtime",     "/etc/ssl",        "/etc/mime.types",
    "/etc/python3",       "/etc/python3.11", "/etc/openmpi"};

/* The top-level directories that are /usr's on a merged-/usr system and
 * real directories on an older one: bound either way. */
static const char *const usr_dirs[] = {"/bin", "/sbin", "/lib", "/lib64"};

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static bool slots_used[SANDBOX_SLOTS];

int sandbox_slot_take(void)
{
    int slot = -1;
    pthread_mutex_lock(&slots_lock);
    for (int s = 0; slot < 0 && s < SANDBOX_SLOTS; s++)
        if (!slots_used[s]) {
            slots_used[s] = true;
            slot = s;
        }
    pthread_mutex_unlock(&slots_lock);
    return slot;
}

void sandbox_slot_give(int slot)
{
    if (slot < 0 || slot >= SANDBOX_SLOTS)
        return;
    pthread_mutex_lock(&slots_lock);
    slots_used[slot] = false;
    pthread_mutex_unlock(&slots_lock);
}

void sandbox_host_address(int slot, int host, char *out, size_t size)
{
    snprintf(out, size, "127.%d.%d.%d", 128 + slot, (host - 1) / 254,
             (host - 1) % 254 + 1);
}

void sandbox_hosts_text(int slot, int hosts, struct buf *out)
{
    char addr[32];
    buf_adds(out, "127.0.0.1\tlocalhost\n"
                  "::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (int h = 1; h <= hosts; h++) {
        sandbox_host_address(slot, h, addr, sizeof(addr));
        buf_addf(out, "%s\talgo-%d\n", addr, h);
    }
}

int sandbox_hosts_prepare(const char *dir, int hosts, const char *rootfs,
                          int *slot, char *path, size_t size,
                          struct kiln_diag *d)
{
    struct buf text = BUF_INIT((size_t)SANDBOX_MAX_HOSTS * 40),
               file = BUF_INIT(8192);
    struct stat st;
    int fd, rc = 0;

    *path = '\0';
    *slot = sandbox_slot_take();
    if (*slot < 0 || hosts > SANDBOX_MAX_HOSTS) {
        rc = diag_set(d, KILN_ELIMIT,
                      "ClientError: kiln runs at most %d script or image "
                      "jobs at once, of at most %d instances each.",
                      SANDBOX_SLOTS, SANDBOX_MAX_HOSTS);
        goto out;
    }
    if (rootfs) {
        buf_addf(&file, "%s/etc/hosts", rootfs);
        if (lstat(buf_cstr(&file), &st) != 0 || !S_ISREG(st.st_mode))
            goto out; /* names resolve as the image has it */
    }
    sandbox_hosts_text(*slot, hosts, &text);
    buf_reset(&file);
    buf_addf(&file, "%s/hosts", dir);
    fd = open(buf_cstr(&file), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len)
        rc = diag_set(d, KILN_EIO, "cannot write %s: %s", buf_cstr(&file),
                      strerror(errno));
    if (fd >= 0)
        close(fd);
    if (!rc && file.len >= size)
        rc = diag_set(d, KILN_EINVAL, "the path %s is too long",
                      buf_cstr(&file));
    if (!rc)
        memcpy(path, file.data, file.len + 1);
out:
    buf_release(&text);
    buf_release(&file);
    return rc;
}

int sandbox_netns_new(void)
{
    int ready[2], hold[2], fd = -1, err = 0, status;
    char path[64];
    pid_t pid;

    if (pipe2(ready, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(hold, O_CLOEXEC) != 0) {
        err = errno;
        close(ready[0]);
        close(ready[1]);
        errno = err;
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* The namespace's first process: async-signal-safe calls only.
         * It sends 0 or an errno, then waits to be let go. */
        struct ifreq ifr;
        int e = 0, s;
        char c;
        close(ready[0]);
        close(hold[1]);
        if (unshare(CLONE_NEWNET) != 0) {
            e = errno;
        } else if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
            e = errno;
        } else {
            memset(&ifr, 0, sizeof(ifr));
            memcpy(ifr.ifr_name, "lo", 3);
            if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
                e = errno;
            ifr.ifr_flags |= IFF_UP;
            if (!e && ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
                e = errno;
            close(s);
        }
        if (write(ready[1], &e, sizeof(e)) != sizeof(e) || e)
            _exit(1);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    if (pid < 0) {
        err = errno;
    } else if (read(ready[0], &err, sizeof(err)) != sizeof(err)) {
        err = err ? err : EIO;
    } else if (!err) {
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            err = errno;
    }
    close(ready[0]);
    close(hold[1]); /* lets it go: the descriptor keeps the namespace */
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    errno = err;
    return fd;
}

int sandbox_argv(const struct sandbox_plan *plan, char ***argv)
{
    struct strv b = STRV_INIT;

    *argv = NULL;
    if (!plan->bwrap || !plan->tree || !plan->cmd || !plan->cmd[0])
        return KILN_EINVAL;
    strv_add(&b, plan->bwrap);
    strv_addv(
        &b, (const char *const[]){"--die-with-parent", "--unshare-all", NULL});
    if (plan->network)
        strv_add(&b, "--share-net");
    if (plan->hostname)
        strv_addv(&b,
                  (const char *const[]){"--hostname", plan->hostname, NULL});
    strv_addv(&b, (const char *const[]){"--cap-drop", "ALL", NULL});
    if (plan->rootfs) {
        strv_addv(&b,
                  (const char *const[]){"--ro-bind", plan->rootfs, "/", NULL});
    } else {
        strv_addv(&b, (const char *const[]){"--ro-bind", "/usr", "/usr", NULL});
        for (size_t i = 0; i < KILN_ARRAY_LEN(usr_dirs); i++)
            strv_addv(&b, (const char *const[]){"--ro-bind-try", usr_dirs[i],
                                                usr_dirs[i], NULL});
        for (size_t i = 0; i < KILN_ARRAY_LEN(etc_files); i++)
            strv_addv(&b, (const char *const[]){"--ro-bind-try", etc_files[i],
                                                etc_files[i], NULL});
    }
    if (plan->hosts_file)
        strv_addv(&b, (const char *const[]){"--ro-bind", plan->hosts_file,
                                            "/etc/hosts", NULL});
    strv_addv(&b, (const char *const[]){"--proc", "/proc", "--dev", "/dev",
                                        "--tmpfs", "/tmp", "--bind", plan->tree,
                                        SANDBOX_ROOT, NULL});
    for (size_t i = 0; plan->read_only && plan->read_only[i]; i++) {
        strv_add(&b, "--ro-bind");
        strv_addf(&b, "%s/%s", plan->tree, plan->read_only[i]);
        strv_addf(&b, "%s/%s", SANDBOX_ROOT, plan->read_only[i]);
    }
    for (size_t i = 0; plan->binds && plan->binds[i] && plan->binds[i + 1] &&
                       plan->binds[i + 2];
         i += 3) {
        strv_add(&b,
                 strcmp(plan->binds[i], "rw") == 0 ? "--bind" : "--ro-bind");
        strv_add(&b, plan->binds[i + 1]);
        strv_add(&b, plan->binds[i + 2]);
    }
    if (plan->chdir)
        strv_addv(&b, (const char *const[]){"--chdir", plan->chdir, NULL});
    strv_add(&b, "--");
    strv_addv(&b, plan->cmd);
    *argv = strv_detach(&b);
    return 0;
}
