/*
 * main.c - kiln's entry point: a table of subcommands (STYLE.md K10).
 */
#include <jansson.h>
#include <malloc.h>

#include "base/mem.h"
#include "cmd/cmd.h"
#include "jobs/rsh.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("kiln %s\n", KILN_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

/* mpirun's remote shell inside a job's sandboxes (jobs/rsh.h). */
static int cmd_rsh(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: kiln rsh HOST COMMAND...\n");
        return 255;
    }
    return rsh_client(RSH_TOKEN_FILE, argv[0], argc - 1, argv + 1);
}

static int cmd_rshd(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: kiln rshd HOST\n");
        return 2;
    }
    return rsh_server(RSH_TOKEN_FILE, argv[0]);
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"server", cmd_server, "run the API server (S3, SageMaker, STS)"},
    {"algo", cmd_algo, "run a built-in algorithm: kiln algo NAME train|serve"},
    {"admin", cmd_admin, "manage keys and configuration"},
    {"rsh", cmd_rsh, "inside an MPI job's sandbox: mpirun's remote shell"},
    {"rshd", cmd_rshd, "inside an MPI job's sandbox: serve kiln rsh"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show this help"},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: kiln COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < KILN_ARRAY_LEN(commands); i++)
        printf("  %-8s %s\n", commands[i].name, commands[i].help);
    return 0;
}

#ifdef KILN_SANITIZED
/* LeakSanitizer's hook: what Open MPI (and its PMIx, libevent and hwloc),
 * OpenBLAS and the OpenMP runtimes
 * keep until exit (the ranks of a multi-instance job look without their
 * thread-local roots) is theirs, not kiln's. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libmpi.so\n"
           "leak:libopen-pal.so\n"
           "leak:libopen-rte.so\n"
           "leak:libpmix.so\n"
           "leak:libevent\n"
           "leak:libhwloc.so\n"
           "leak:libopenblas\n"
           "leak:libgomp.so\n"
           "leak:libomp.so\n";
}
#endif

int main(int argc, char **argv)
{
    json_set_alloc_funcs(xmalloc, mem_free);
    /*
     * Bodies of up to a few MB come and go with every request: keep them
     * in the heap, and keep some freed heap (16 MiB per malloc arena, of
     * which glibc makes at most eight per core), instead of a fresh mmap
     * (and a page fault per 4 KiB) each time. Larger blocks are still
     * mapped and returned at once.
     */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "kiln: unknown command '%s' (try 'kiln help')\n", argv[1]);
    return 2;
}
