/*
 * test_launch.c - the multi-instance launcher: mpirun argv golden lists,
 * ShardedByS3Key assignment, --tag-output tags and hostfile slots.
 */
#include "base/buf.h"
#include "harness.h"
#include "jobs/launch.h"

static const char *const cmd[] = {"/usr/bin/kiln", "algo", "kmeans", "train",
                                  NULL};
static const char *const env[] = {"KILN_MPI=1", "OMP_NUM_THREADS=2", NULL};

/* Joins argv with single spaces for a readable golden comparison. */
static char *joined(char **argv)
{
    struct buf b = BUF_INIT(1 << 20);
    for (size_t i = 0; argv[i]; i++)
        buf_addf(&b, "%s%s", i ? " " : "", argv[i]);
    return buf_detach(&b, NULL);
}

static void check(const struct launch_plan *p, const char *want)
{
    char **argv = NULL;
    ASSERT_EQ(launch_argv(p, &argv), 0);
    char *got = joined(argv);
    launch_argv_free(argv);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  got:  %s\n  want: %s\n", got, want);
        mem_free(got);
        FAIL_AT("argv differs");
    }
    mem_free(got);
}

#define RANK(n)                                                                \
    "-np 1 -wdir /j/algo-" #n " -x SM_INPUT_DIR=/j/algo-" #n "/input "         \
    "-x SM_MODEL_DIR=/j/algo-" #n "/model "                                    \
    "-x SM_OUTPUT_DIR=/j/algo-" #n "/output "                                  \
    "-x KILN_MPI=1 -x OMP_NUM_THREADS=2 /usr/bin/kiln algo kmeans train"

static void test_one_host(void)
{
    struct launch_plan p = {.mpirun = "/usr/bin/mpirun",
                            .ranks = 1,
                            .job_dir = "/j",
                            .env = env,
                            .cmd = cmd};
    check(
        &p,
        "/usr/bin/mpirun --tag-output --bind-to none --oversubscribe " RANK(1));
}

static void test_four_ranks_oversubscribed(void)
{
    struct launch_plan p = {.mpirun = "/usr/bin/mpirun",
                            .ranks = 4,
                            .as_root = true,
                            .job_dir = "/j",
                            .env = env,
                            .cmd = cmd};
    check(&p,
          "/usr/bin/mpirun --allow-run-as-root --tag-output --bind-to none "
          "--oversubscribe " RANK(1) " : " RANK(2) " : " RANK(3) " : " RANK(4));
}

static void test_hostfile(void)
{
    struct launch_plan p = {.mpirun = "mpirun",
                            .ranks = 3,
                            .hostfile = "/etc/kiln/hosts",
                            .job_dir = "/j",
                            .env = env,
                            .cmd = cmd};
    check(&p,
          "mpirun --tag-output --bind-to none --hostfile /etc/kiln/hosts " RANK(
              1) " : " RANK(2) " : " RANK(3));
}

static void test_custom_options(void)
{
    struct launch_plan p = {
        .mpirun = "mpirun",
        .ranks = 2,
        .hostfile = "h",
        .mpi_options = "  --mca btl tcp,self\t--mca plm_rsh_agent /x/rsh ",
        .job_dir = "/j",
        .env = env,
        .cmd = cmd};
    check(&p, "mpirun --tag-output --bind-to none --hostfile h --mca btl "
              "tcp,self --mca plm_rsh_agent /x/rsh " RANK(1) " : " RANK(2));
}

static void test_remote_trees(void)
{
    static const char *const specs[] = {"KILN_HOST_SPEC=http://s/1?a=b",
                                        "KILN_HOST_SPEC=http://s/2?a=b"};
    struct launch_plan p = {.mpirun = "mpirun",
                            .ranks = 2,
                            .hostfile = "h",
                            .job_dir = "/j",
                            .env = env,
                            .rank_env = specs,
                            .remote_trees = true,
                            .cmd = cmd};
    check(&p, "mpirun --tag-output --bind-to none --hostfile h "
              "-np 1 -wdir /tmp -x KILN_HOST_SPEC=http://s/1?a=b -x KILN_MPI=1 "
              "-x OMP_NUM_THREADS=2 /usr/bin/kiln algo kmeans train : "
              "-np 1 -wdir /tmp -x KILN_HOST_SPEC=http://s/2?a=b -x KILN_MPI=1 "
              "-x OMP_NUM_THREADS=2 /usr/bin/kiln algo kmeans train");
}

static void test_empty_plan(void)
{
    char **argv = (char **)1;
    struct launch_plan p = {.mpirun = "mpirun", .ranks = 0, .cmd = cmd};
    ASSERT_EQ(launch_argv(&p, &argv), KILN_EINVAL);
    ASSERT_TRUE(argv == NULL);
    const char *const none[] = {NULL};
    p.ranks = 2;
    p.cmd = none;
    ASSERT_EQ(launch_argv(&p, &argv), KILN_EINVAL);
}

static void test_shards(void)
{
    for (int hosts = 1; hosts <= 5; hosts++) {
        for (size_t count = 1; count <= 12; count++) {
            size_t per[5] = {0};
            for (size_t i = 0; i < count; i++) {
                int h = launch_shard_host(i, count, hosts);
                ASSERT_TRUE(h >= 0 && h < hosts);
                per[h]++;
            }
            size_t lo = count / (size_t)hosts;
            for (int h = 0; h < hosts; h++) {
                /* Everyone gets floor or ceil of count/hosts... */
                ASSERT_TRUE(per[h] == lo || per[h] == lo + 1);
                /* ...and the first hosts get the extra ones. */
                ASSERT_EQ(per[h], lo + ((size_t)h < count % (size_t)hosts));
            }
        }
    }
    /* The SDK's two shards on two instances: one each, in order. */
    ASSERT_EQ(launch_shard_host(0, 2, 2), 0);
    ASSERT_EQ(launch_shard_host(1, 2, 2), 1);
    ASSERT_EQ(launch_shard_host(7, 12, 1), 0);
}

static void test_tags(void)
{
    size_t skip = 0;
    static const char a[] = "[1,3]<stdout>:hello";
    ASSERT_EQ(launch_tag_rank(a, strlen(a), &skip), 3);
    ASSERT_STR_EQ(a + skip, "hello");
    static const char b[] = "[12345,0]<stderr>:";
    ASSERT_EQ(launch_tag_rank(b, strlen(b), &skip), 0);
    ASSERT_EQ(skip, strlen(b));
    static const char *const bad[] = {"",
                                      "hello",
                                      "[1,2]",
                                      "[1,2]<stdin>:x",
                                      "[,2]<stdout>:",
                                      "[1,]<stdout>:",
                                      "[1,2<stdout>:",
                                      "[1;2]<stdout>:",
                                      "[1,99999999999]<stdout>:"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++)
        ASSERT_EQ(launch_tag_rank(bad[i], strlen(bad[i]), &skip), -1);
}

static void test_hostfile_slots(void)
{
    struct kiln_diag d = {0};
    int slots = 0;
    static const char good[] = "# cluster\n10.0.0.1 slots=2\n\n"
                               "  10.0.0.2   # one slot\nnode3 slots=4 "
                               "max_slots=8";
    ASSERT_EQ(launch_hostfile_slots(good, strlen(good), &slots, &d), 0);
    ASSERT_EQ(slots, 7);
    ASSERT_EQ(launch_hostfile_slots("", 0, &slots, &d), 0);
    ASSERT_EQ(slots, 0);
    static const char bad[] = "a slots=2\nb slots=0\n";
    ASSERT_EQ(launch_hostfile_slots(bad, strlen(bad), &slots, &d), KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "line 2");
    static const char bad2[] = "a slots=x\n";
    ASSERT_EQ(launch_hostfile_slots(bad2, strlen(bad2), &slots, &d),
              KILN_EINVAL);
    static const char bad3[] = "a slots=\n";
    ASSERT_EQ(launch_hostfile_slots(bad3, strlen(bad3), &slots, &d),
              KILN_EINVAL);
}

static const struct test tests[] = {
    {"mpirun argv: one host", test_one_host},
    {"mpirun argv: four ranks oversubscribed", test_four_ranks_oversubscribed},
    {"mpirun argv: hostfile", test_hostfile},
    {"mpirun argv: custom MPI options", test_custom_options},
    {"mpirun argv: hosts that fetch their own trees", test_remote_trees},
    {"mpirun argv: empty plan rejected", test_empty_plan},
    {"ShardedByS3Key: 1..5 hosts over 1..12 objects", test_shards},
    {"--tag-output tags", test_tags},
    {"hostfile slots", test_hostfile_slots},
};

HARNESS_MAIN(tests)
