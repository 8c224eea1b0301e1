/*
 * sandbox.c - bubblewrap's command line (see sandbox.h).
 */
#include "jobs/sandbox.h"

#include <stdio.h>
#include <string.h>

#include "base/strv.h"

/* What of /etc the host's Python, its libraries and name lookups read:
 * the dynamic loader's cache, the BLAS/LAPACK alternatives numpy loads,
 * users and groups, time zone, certificates. Bound only when present. */
static const char *const etc_files[] = {
    "/etc/ld.so.cache",   "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/alternatives",  "/etc/passwd",     "/etc/group",
    "/etc/nsswitch.conf", "/etc/hosts",      "/etc/resolv.conf",
    "/etc/localtime",     "/etc/ssl",        "/etc/mime.types",
    "/etc/python3",       "/etc/python3.11"};

/* The top-level directories that are /usr's on a merged-/usr system and
 * real directories on an older one: bound either way. */
static const char *const usr_dirs[] = {"/bin", "/sbin", "/lib", "/lib64"};

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
