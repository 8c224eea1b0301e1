/*
 * test_launch.c - the multi-instance launcher: mpirun argv golden lists,
 * ShardedByS3Key assignment, --tag-output tags and hostfile slots; script
 * mode's bubblewrap argv, entry-point command line and SM_* environment;
 * the distributed launchers' commands, kiln rsh's request, and the
 * pumping of several instances' processes.
 */
#include <signal.h>

#include "base/buf.h"
#include "base/str.h"
#include "base/tm.h"
#include "harness.h"
#include "jobs/launch.h"
#include "jobs/proc.h"
#include "jobs/rsh.h"
#include "jobs/sandbox.h"
#include "jobs/toolkit.h"

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

/* The plan's bwrap command line as one string in *got (mem_free). */
static void sandbox_line(const struct sandbox_plan *p, char **got)
{
    char **argv = NULL;
    *got = NULL;
    ASSERT_EQ(sandbox_argv(p, &argv), 0);
    *got = joined(argv);
    launch_argv_free(argv);
}

static void test_sandbox_argv(void)
{
    static const char *const ro[] = {"input", "code", NULL};
    static const char *const py[] = {"/usr/bin/python3", "train.py", "--k", "3",
                                     NULL};
    struct sandbox_plan p = {.bwrap = "/usr/bin/bwrap",
                             .tree = "/d/jobs/a/j/algo-1",
                             .read_only = ro,
                             .hostname = "algo-1",
                             .chdir = "/opt/ml/code",
                             .cmd = py};
    char **argv = NULL;
    char *got;
    sandbox_line(&p, &got);
    ASSERT_STR_EQ(
        got, "/usr/bin/bwrap --die-with-parent --unshare-all --hostname algo-1 "
             "--cap-drop ALL --ro-bind /usr /usr --ro-bind-try /bin /bin "
             "--ro-bind-try /sbin /sbin --ro-bind-try /lib /lib "
             "--ro-bind-try /lib64 /lib64 "
             "--ro-bind-try /etc/ld.so.cache /etc/ld.so.cache "
             "--ro-bind-try /etc/ld.so.conf /etc/ld.so.conf "
             "--ro-bind-try /etc/ld.so.conf.d /etc/ld.so.conf.d "
             "--ro-bind-try /etc/alternatives /etc/alternatives "
             "--ro-bind-try /etc/passwd /etc/passwd "
             "--ro-bind-try /etc/group /etc/group "
             "--ro-bind-try /etc/nsswitch.conf /etc/nsswitch.conf "
             "--ro-bind-try /etc/hosts /etc/hosts "
             "--ro-bind-try /etc/resolv.conf /etc/resolv.conf "
             "--ro-bind-try /etc/localtime /etc/localtime "
             "--ro-bind-try /etc/ssl /etc/ssl "
             "--ro-bind-try /etc/mime.types /etc/mime.types "
             "--ro-bind-try /etc/python3 /etc/python3 "
             "--ro-bind-try /etc/python3.11 /etc/python3.11 "
             "--ro-bind-try /etc/openmpi /etc/openmpi "
             "--proc /proc --dev /dev --tmpfs /tmp "
             "--bind /d/jobs/a/j/algo-1 /opt/ml "
             "--ro-bind /d/jobs/a/j/algo-1/input /opt/ml/input "
             "--ro-bind /d/jobs/a/j/algo-1/code /opt/ml/code "
             "--chdir /opt/ml/code -- /usr/bin/python3 train.py --k 3");
    mem_free(got);

    /* The network only when asked for; more mounts after the tree;
     * nothing without a command. */
    static const char *const binds[] = {"ro", "/usr/bin/kiln", "/opt/kiln/kiln",
                                        "rw", "/tmp/s",        "/run/kiln",
                                        NULL};
    p.network = true;
    p.read_only = NULL;
    p.binds = binds;
    sandbox_line(&p, &got);
    ASSERT_CONTAINS(got, "--unshare-all --share-net --hostname algo-1");
    ASSERT_CONTAINS(got, "--bind /d/jobs/a/j/algo-1 /opt/ml --ro-bind "
                         "/usr/bin/kiln /opt/kiln/kiln --bind /tmp/s /run/kiln "
                         "--chdir /opt/ml/code --");
    mem_free(got);
    /* An image's root file system instead of the host's programs. */
    p.rootfs = "/d/images/abc/rootfs";
    sandbox_line(&p, &got);
    ASSERT_CONTAINS(got, "--cap-drop ALL --ro-bind /d/images/abc/rootfs / "
                         "--proc /proc --dev /dev --tmpfs /tmp --bind "
                         "/d/jobs/a/j/algo-1 /opt/ml");
    ASSERT_TRUE(strstr(got, "--ro-bind /usr /usr") == NULL &&
                strstr(got, "/etc/") == NULL);
    mem_free(got);
    /* The job's own /etc/hosts over the image's (or the host's). */
    p.hosts_file = "/d/jobs/a/j/hosts";
    sandbox_line(&p, &got);
    ASSERT_CONTAINS(got, "--ro-bind /d/images/abc/rootfs / --ro-bind "
                         "/d/jobs/a/j/hosts /etc/hosts --proc /proc");
    mem_free(got);
    p.rootfs = NULL;
    sandbox_line(&p, &got);
    ASSERT_CONTAINS(got, "--ro-bind-try /etc/python3.11 /etc/python3.11 "
                         "--ro-bind-try /etc/openmpi /etc/openmpi "
                         "--ro-bind /d/jobs/a/j/hosts /etc/hosts --proc");
    mem_free(got);
    p.cmd = NULL;
    ASSERT_EQ(sandbox_argv(&p, &argv), KILN_EINVAL);
    ASSERT_TRUE(argv == NULL);
}

static void test_sandbox_hosts(void)
{
    struct buf b = BUF_INIT(1 << 20);
    char addr[32];

    sandbox_host_address(0, 1, addr, sizeof(addr));
    ASSERT_STR_EQ(addr, "127.128.0.1");
    sandbox_host_address(3, 254, addr, sizeof(addr));
    ASSERT_STR_EQ(addr, "127.131.0.254");
    sandbox_host_address(3, 255, addr, sizeof(addr));
    ASSERT_STR_EQ(addr, "127.131.1.1");
    sandbox_host_address(SANDBOX_SLOTS - 1, SANDBOX_MAX_HOSTS, addr,
                         sizeof(addr));
    ASSERT_STR_EQ(addr, "127.254.255.254");
    sandbox_hosts_text(2, 2, &b);
    ASSERT_STR_EQ(buf_cstr(&b), "127.0.0.1\tlocalhost\n"
                                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                "127.130.0.1\talgo-1\n127.130.0.2\talgo-2\n");
    buf_release(&b);
}

static void test_toolkit_launcher(void)
{
    json_t *hps = json_pack("{s:s, s:s}", "sagemaker_program", "\"train.py\"",
                            "sagemaker_mpi_enabled", "false");
    ASSERT_TRUE(toolkit_launcher(hps) == NULL);
    json_object_set_new(hps, "sagemaker_torch_distributed_enabled",
                        json_string("true"));
    ASSERT_STR_EQ(toolkit_launcher(hps), "sagemaker_torch_distributed_enabled");
    json_object_set_new(hps, "sagemaker_mpi_enabled", json_string("True"));
    ASSERT_STR_EQ(toolkit_launcher(hps), "sagemaker_mpi_enabled");
    json_decref(hps);
}

static void check_py(const char *json, const char *want)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    struct buf b = BUF_INIT(4096);
    ASSERT_TRUE(v != NULL);
    toolkit_py_str(v, &b);
    if (strcmp(buf_cstr(&b), want) != 0) {
        fprintf(stderr, "  %s: got %s, want %s\n", json, buf_cstr(&b), want);
        FAIL_AT("str() differs");
    }
    buf_release(&b);
    json_decref(v);
}

/* Python's str() of what json.loads gives, as the toolkit passes it. */
static void test_python_str(void)
{
    check_py("10", "10");
    check_py("-3", "-3");
    check_py("0.001", "0.001");
    check_py("1e-3", "0.001");
    check_py("0.0001", "0.0001");
    check_py("0.00001", "1e-05");
    check_py("2.5e-07", "2.5e-07");
    check_py("1.0", "1.0");
    check_py("100.0", "100.0");
    check_py("0.1", "0.1");
    check_py("123.456", "123.456");
    check_py("1234567890123456.0", "1234567890123456.0");
    check_py("1e16", "1e+16");
    check_py("-1.5e300", "-1.5e+300");
    check_py("true", "True");
    check_py("false", "False");
    check_py("null", "");
    check_py("\"plain\"", "plain");
    check_py("[1, \"a\", 2.5, true, null]", "[1, 'a', 2.5, True, None]");
    check_py("[\"it's\"]", "[\"it's\"]");
    check_py("[\"a\\\\b\\n\"]", "['a\\\\b\\n']");
    check_py("{\"b\": 2, \"a\": \"x\"}", "a=x,b=2");
    check_py("{\"m\": {\"k\": [1]}}", "m={'k': [1]}");
}

static const char *env_get(const struct strv *e, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->items[i], name, n) == 0 && e->items[i][n] == '=')
            return e->items[i] + n + 1;
    return NULL;
}

/* The hyper-parameters of the SDK's SKLearn estimator. */
static void test_toolkit_command(void)
{
    json_t *hps = json_loads(
        "{\"sagemaker_program\": \"\\\"train.py\\\"\","
        " \"sagemaker_submit_directory\": "
        "\"\\\"s3://b/j/source/sourcedir.tar.gz\\\"\","
        " \"sagemaker_container_log_level\": \"20\","
        " \"sagemaker_region\": \"\\\"us-east-1\\\"\","
        " \"_tuning_objective_metric\": \"\\\"acc\\\"\","
        " \"n-clusters\": \"3\", \"lr\": \"1e-05\", \"mode\": \"\\\"fast\\\"\","
        " \"raw\": \"not json\", \"k\": \"[1, 2]\"}",
        0, NULL);
    json_t *res = json_loads(
        "{\"current_host\": \"algo-1\", \"current_instance_type\": "
        "\"ml.m5.large\", \"current_group_name\": \"homogeneousCluster\", "
        "\"hosts\": [\"algo-1\"], \"instance_groups\": [{"
        "\"instance_group_name\": \"homogeneousCluster\", \"instance_type\": "
        "\"ml.m5.large\", \"hosts\": [\"algo-1\"]}], "
        "\"network_interface_name\": \"eth0\"}",
        0, NULL);
    json_t *inputs = json_loads("{\"train\": {\"TrainingInputMode\": "
                                "\"File\"}, \"test\": {}}",
                                0, NULL);
    struct toolkit_job j = {.hyperparameters = hps,
                            .resource_config = res,
                            .input_data_config = inputs,
                            .job_name = "job-1",
                            .python = "/usr/bin/python3",
                            .cpus = 2};
    struct strv argv = STRV_INIT, vars = STRV_INIT;
    struct kiln_diag d = {0};

    ASSERT_TRUE(toolkit_is_script(hps));
    char *submit = toolkit_param(hps, "sagemaker_submit_directory");
    ASSERT_STR_EQ(submit, "s3://b/j/source/sourcedir.tar.gz");
    mem_free(submit);
    ASSERT_EQ(toolkit_command(&j, &argv, &vars, &d), 0);
    char *got = joined(argv.items);
    ASSERT_STR_EQ(got, "/usr/bin/python3 train.py -k [1, 2] --lr 1e-05 "
                       "--mode fast --n-clusters 3 --raw not json");
    mem_free(got);
    ASSERT_STR_EQ(env_get(&vars, "SM_MODEL_DIR"), "/opt/ml/model");
    ASSERT_STR_EQ(env_get(&vars, "SM_CHANNELS"), "[\"test\",\"train\"]");
    ASSERT_STR_EQ(env_get(&vars, "SM_CHANNEL_TRAIN"),
                  "/opt/ml/input/data/train");
    ASSERT_STR_EQ(env_get(&vars, "SM_CHANNEL_TEST"), "/opt/ml/input/data/test");
    ASSERT_STR_EQ(env_get(&vars, "SM_HP_N-CLUSTERS"), "3");
    ASSERT_STR_EQ(env_get(&vars, "SM_HP_MODE"), "fast");
    ASSERT_STR_EQ(env_get(&vars, "SM_HP_K"), "[1,2]");
    ASSERT_TRUE(env_get(&vars, "SM_HP_SAGEMAKER_PROGRAM") == NULL);
    ASSERT_STR_EQ(env_get(&vars, "SM_HPS"),
                  "{\"k\":[1,2],\"lr\":1.0000000000000001e-5,\"mode\":"
                  "\"fast\",\"n-clusters\":3,\"raw\":\"not json\"}");
    ASSERT_STR_EQ(env_get(&vars, "SM_USER_ENTRY_POINT"), "train.py");
    ASSERT_STR_EQ(env_get(&vars, "SM_MODULE_NAME"), "train");
    ASSERT_STR_EQ(env_get(&vars, "SM_MODULE_DIR"),
                  "s3://b/j/source/sourcedir.tar.gz");
    ASSERT_STR_EQ(env_get(&vars, "SM_HOSTS"), "[\"algo-1\"]");
    ASSERT_STR_EQ(env_get(&vars, "SM_CURRENT_HOST"), "algo-1");
    ASSERT_STR_EQ(env_get(&vars, "SM_CURRENT_INSTANCE_TYPE"), "ml.m5.large");
    ASSERT_STR_EQ(env_get(&vars, "SM_NUM_CPUS"), "2");
    ASSERT_STR_EQ(env_get(&vars, "SM_NUM_GPUS"), "0");
    ASSERT_STR_EQ(env_get(&vars, "SM_OUTPUT_DATA_DIR"), "/opt/ml/output/data");
    ASSERT_STR_EQ(env_get(&vars, "SM_USER_ARGS"),
                  "[\"-k\",\"[1, 2]\",\"--lr\",\"1e-05\",\"--mode\",\"fast\","
                  "\"--n-clusters\",\"3\",\"--raw\",\"not json\"]");
    ASSERT_STR_EQ(env_get(&vars, "SM_FRAMEWORK_PARAMS"), "{}");
    ASSERT_STR_EQ(env_get(&vars, "SM_IS_HETERO"), "false");
    json_t *te = json_loads(env_get(&vars, "SM_TRAINING_ENV"), 0, NULL);
    ASSERT_TRUE(te != NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(te, "module_name")),
                  "train");
    ASSERT_EQ(json_integer_value(json_object_get(
                  json_object_get(te, "hyperparameters"), "n-clusters")),
              3);
    ASSERT_TRUE(json_is_true(json_object_get(te, "is_master")));
    json_decref(te);
    strv_release(&argv);
    strv_release(&vars);

    /* Other entry points, and names that are not a file of the code. */
    json_object_set_new(hps, "sagemaker_program", json_string("\"run.sh\""));
    ASSERT_EQ(toolkit_command(&j, &argv, &vars, &d), 0);
    ASSERT_STR_EQ(argv.items[0], "/bin/sh");
    ASSERT_STR_EQ(argv.items[1], "run.sh");
    strv_release(&argv);
    strv_release(&vars);
    static const char *const bad[] = {"\"../x.py\"", "\"/etc/x.py\"",
                                      "\"-c.py\"", "3", "\"\""};
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        json_object_set_new(hps, "sagemaker_program", json_string(bad[i]));
        ASSERT_EQ(toolkit_command(&j, &argv, &vars, &d), KILN_EINVAL);
        ASSERT_CONTAINS(d.msg, "sagemaker_program");
        ASSERT_EQ(argv.n, 0);
    }
    json_object_del(hps, "sagemaker_program");
    ASSERT_TRUE(!toolkit_is_script(hps));
    json_decref(hps);
    json_decref(res);
    json_decref(inputs);
}

/* toolkit_command's result, which must be `want`, and its command line
 * joined (*got, mem_free; NULL when it failed). */
static void command_line(const struct toolkit_job *j, struct kiln_diag *d,
                         int want, char **got)
{
    struct strv argv = STRV_INIT, vars = STRV_INIT;

    *got = NULL;
    ASSERT_EQ(toolkit_command(j, &argv, &vars, d), want);
    if (want == 0)
        *got = joined(argv.items);
    strv_release(&argv);
    strv_release(&vars);
}

/* torchrun on a host of the distribution's instance groups: the toolkit's
 * command and environment; the other group's host runs the script. */
static void test_toolkit_torchrun(void)
{
    json_t *hps = json_loads(
        "{\"sagemaker_program\": \"\\\"train.py\\\"\","
        " \"sagemaker_torch_distributed_enabled\": \"true\","
        " \"sagemaker_mpi_num_of_processes_per_host\": \"2\","
        " \"sagemaker_distribution_instance_groups\": \"[\\\"gpu\\\"]\","
        " \"epochs\": \"3\"}",
        0, NULL);
    json_t *res = json_loads(
        "{\"current_host\": \"algo-3\", \"current_group_name\": \"gpu\","
        " \"hosts\": [\"algo-1\", \"algo-2\", \"algo-3\"],"
        " \"instance_groups\": ["
        "{\"instance_group_name\": \"data\", \"hosts\": [\"algo-1\"]},"
        "{\"instance_group_name\": \"gpu\", \"hosts\": [\"algo-2\", "
        "\"algo-3\"]}]}",
        0, NULL);
    json_t *inputs = json_object();
    struct toolkit_job j = {.hyperparameters = hps,
                            .resource_config = res,
                            .input_data_config = inputs,
                            .job_name = "job-1",
                            .python = "/usr/bin/python3",
                            .cpus = 1,
                            .master_port = 7790};
    struct strv argv = STRV_INIT, vars = STRV_INIT;
    struct kiln_diag d = {0};

    ASSERT_TRUE(toolkit_launcher_supported(toolkit_launcher(hps)));
    ASSERT_EQ(toolkit_command(&j, &argv, &vars, &d), 0);
    char *got = joined(argv.items);
    ASSERT_STR_EQ(got, "/usr/bin/python3 -m torch.distributed.run --nnodes 2 "
                       "--nproc_per_node 2 --master_addr algo-2 "
                       "--master_port 7790 --node_rank 1 train.py --epochs 3");
    mem_free(got);
    ASSERT_STR_EQ(env_get(&vars, "SM_DISTRIBUTION_HOSTS"),
                  "[\"algo-2\",\"algo-3\"]");
    ASSERT_STR_EQ(env_get(&vars, "SM_DISTRIBUTION_INSTANCE_GROUPS"),
                  "[\"gpu\"]");
    ASSERT_STR_EQ(env_get(&vars, "MASTER_ADDR"), "algo-2");
    ASSERT_STR_EQ(env_get(&vars, "MASTER_PORT"), "7790");
    ASSERT_STR_EQ(env_get(&vars, "PET_REDIRECTS"), "9:0");
    json_t *te = json_loads(env_get(&vars, "SM_TRAINING_ENV"), 0, NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(te, "master_hostname")),
                  "algo-2");
    ASSERT_TRUE(json_is_false(json_object_get(te, "is_master")));
    json_decref(te);
    strv_release(&argv);
    strv_release(&vars);

    /* algo-1, of the other group, runs the entry point itself. */
    json_object_set_new(res, "current_host", json_string("algo-1"));
    json_object_set_new(res, "current_group_name", json_string("data"));
    command_line(&j, &d, 0, &got);
    ASSERT_STR_EQ(got, "/usr/bin/python3 train.py --epochs 3");
    mem_free(got);

    /* torchrun runs Python files, and a count of processes. */
    json_object_set_new(res, "current_host", json_string("algo-2"));
    json_object_set_new(res, "current_group_name", json_string("gpu"));
    json_object_set_new(hps, "sagemaker_program", json_string("\"run.sh\""));
    command_line(&j, &d, KILN_EINVAL, &got);
    ASSERT_CONTAINS(d.msg, "torch_distributed");
    json_object_set_new(hps, "sagemaker_program", json_string("\"t.py\""));
    json_object_set_new(hps, "sagemaker_mpi_num_of_processes_per_host",
                        json_string("0"));
    command_line(&j, &d, KILN_EINVAL, &got);
    ASSERT_CONTAINS(d.msg, "sagemaker_mpi_num_of_processes_per_host");
    json_decref(hps);
    json_decref(res);
    json_decref(inputs);
}

/* MPI: the toolkit's mpirun on the first host, kiln rshd on the others. */
static void test_toolkit_mpirun(void)
{
    json_t *hps =
        json_loads("{\"sagemaker_program\": \"\\\"train.py\\\"\","
                   " \"sagemaker_mpi_enabled\": \"true\","
                   " \"sagemaker_mpi_num_of_processes_per_host\": \"2\","
                   " \"sagemaker_mpi_custom_mpi_options\": "
                   "\"\\\"--NCCL_DEBUG WARN -x A=1\\\"\", \"lr\": \"0.1\"}",
                   0, NULL);
    json_t *res = json_loads(
        "{\"current_host\": \"algo-1\", \"hosts\": [\"algo-1\", \"algo-2\"],"
        " \"current_group_name\": \"homogeneousCluster\","
        " \"instance_groups\": [{\"instance_group_name\": "
        "\"homogeneousCluster\", \"hosts\": [\"algo-1\", \"algo-2\"]}]}",
        0, NULL);
    json_t *inputs = json_object();
    struct toolkit_job j = {.hyperparameters = hps,
                            .resource_config = res,
                            .input_data_config = inputs,
                            .job_name = "job-1",
                            .python = "/usr/bin/python3",
                            .cpus = 1};
    struct kiln_diag d = {0};

    ASSERT_TRUE(toolkit_launcher_supported(toolkit_launcher(hps)));
    char *got;
    command_line(&j, &d, 0, &got);
    ASSERT_TRUE(str_starts(
        got, "mpirun --host algo-1:2,algo-2:2 -np 4 --allow-run-as-root "
             "--display-map --tag-output -mca btl_tcp_if_include lo -mca "
             "oob_tcp_if_include lo -mca plm_rsh_no_tree_spawn 1 -mca "
             "plm_rsh_agent /kiln/kiln rsh "));
    ASSERT_CONTAINS(got, " -x NCCL_DEBUG=WARN -x PATH -x A=1 -x SM_");
    ASSERT_CONTAINS(got, " -x SM_HOSTS ");
    ASSERT_TRUE(str_ends(got, " /usr/bin/python3 -m mpi4py train.py --lr 0.1"));
    mem_free(got);

    /* The other hosts serve mpirun's remote shell. */
    json_object_set_new(res, "current_host", json_string("algo-2"));
    command_line(&j, &d, 0, &got);
    ASSERT_STR_EQ(got, "/kiln/kiln rshd algo-2");
    mem_free(got);

    /* A count of processes beyond the hosts' slots is refused. */
    json_object_set_new(res, "current_host", json_string("algo-1"));
    json_object_set_new(hps, "sagemaker_mpi_num_processes", json_string("5"));
    command_line(&j, &d, KILN_EINVAL, &got);
    ASSERT_CONTAINS(d.msg, "sagemaker_mpi_num_processes");
    json_object_set_new(hps, "sagemaker_mpi_num_processes", json_string("3"));
    command_line(&j, &d, 0, &got);
    ASSERT_TRUE(str_starts(got, "mpirun --host algo-1:2,algo-2:2 -np 3 "));
    mem_free(got);
    json_decref(hps);
    json_decref(res);
    json_decref(inputs);
}

/* kiln rsh's request: whole, in pieces, and every way it can be wrong. */
static void test_rsh_request(void)
{
    char token[RSH_TOKEN_LEN + 1], other[RSH_TOKEN_LEN + 1], *line;
    char w0[] = "orted", w1[] = "-mca", w2[] = "ess", w3[] = "\"env\"";
    char *words[] = {w0, w1, w2, w3};
    struct buf req = BUF_INIT(1 << 20);

    ASSERT_TRUE(rsh_token_new(token) && rsh_token_new(other));
    ASSERT_EQ(strlen(token), RSH_TOKEN_LEN);
    ASSERT_TRUE(strcmp(token, other) != 0);
    ASSERT_TRUE(rsh_request(token, 4, words, &req));
    for (size_t n = 0; n < req.len; n++) {
        ASSERT_EQ(rsh_parse(req.data, n, token, &line), 0);
        ASSERT_TRUE(line == NULL);
    }
    ASSERT_EQ(rsh_parse(req.data, req.len, token, &line), 1);
    ASSERT_STR_EQ(line, "orted -mca ess \"env\"");
    mem_free(line);
    ASSERT_EQ(rsh_parse(req.data, req.len, other, &line), -1);
    buf_addc(&req, 'x');
    ASSERT_EQ(rsh_parse(req.data, req.len, token, &line), -1);
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH\r\n",
        "KILN-RSH 2 ",
        "KILN-RSH 1 short 3\nabc",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++)
        ASSERT_EQ(rsh_parse(bad[i], strlen(bad[i]), token, &line), -1);
    /* Lengths that are zero, negative, too long or not a number, and a
     * NUL inside the command. */
    static const char *const tails[] = {" 0\n", " -1\nx", " 99999999\nx",
                                        " 3x\nabc", " 3\na\0c"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(tails); i++) {
        buf_reset(&req);
        buf_addf(&req, "KILN-RSH 1 %s", token);
        if (i == 4)
            buf_add(&req, tails[i], 6);
        else
            buf_adds(&req, tails[i]);
        ASSERT_EQ(rsh_parse(req.data, req.len, token, &line), -1);
    }
    /* A command kiln rsh cannot send whole is not sent at all. */
    char *big = xcalloc(RSH_CMD_MAX + 1, 1);
    memset(big, 'x', RSH_CMD_MAX);
    char *too_long[] = {w0, big};
    buf_reset(&req);
    ASSERT_TRUE(!rsh_request(token, 2, too_long, &req));
    ASSERT_TRUE(!rsh_request(token, 0, too_long, &req));
    mem_free(big);
    buf_release(&req);
}

static void no_line(void *ctx, size_t child, const char *text, size_t len)
{
    (void)ctx, (void)child, (void)text, (void)len;
}

static const char *no_stop(void *ctx)
{
    (void)ctx;
    return NULL;
}

/* Starts `sh -c script` for each script, pumps them, returns what
 * proc_wait_all tells. */
static size_t pump_shells(const char *const *scripts, size_t n,
                          const bool *followers, size_t leader, struct proc *ps)
{
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct proc_pump o = {.max_line = 4096,
                          .grace = 5,
                          .check = no_stop,
                          .line = no_line,
                          .fail_together = true,
                          .followers = followers,
                          .leader = leader};
    const char *why = NULL;
    size_t failed = n;
    struct kiln_diag d = {0};

    o.first_failure = &failed;
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"/bin/sh", "-c", scripts[i], NULL};
        proc_init(&ps[i]);
        if (proc_start(&ps[i], argv, envp, "/", &d) != 0)
            return n + 1;
    }
    proc_pump(ps, n, &o, &why);
    return proc_wait_all(ps, n, failed);
}

/* Followers are stopped once their leader ends well, and their end then
 * counts as success; the first failure stops the others. */
static void test_pump_followers(void)
{
    struct proc ps[3];
    const char *const served[] = {"sleep 0.2", "exec sleep 30",
                                  "exec sleep 30"};
    const bool followers[] = {false, true, true};
    double t0 = tm_now();

    ASSERT_EQ(pump_shells(served, 3, followers, 0, ps), 3);
    ASSERT_TRUE(tm_now() - t0 < 10);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(ps[i].exit_status, 0);
        proc_release(&ps[i]);
    }
    /* A leader that fails is the job's failure, and stops the rest. */
    const char *const failing[] = {"sleep 0.2; exit 3", "exec sleep 30",
                                   "exec sleep 30"};
    t0 = tm_now();
    ASSERT_EQ(pump_shells(failing, 3, followers, 0, ps), 0);
    ASSERT_TRUE(tm_now() - t0 < 10);
    ASSERT_EQ(ps[0].exit_status, 3);
    ASSERT_EQ(ps[1].exit_status, 128 + SIGTERM);
    for (size_t i = 0; i < 3; i++)
        proc_release(&ps[i]);
    /* Without followers, a child that ends well stops nobody. */
    const char *const plain[] = {"exit 0", "sleep 0.5; exit 0"};
    ASSERT_EQ(pump_shells(plain, 2, NULL, 0, ps), 2);
    ASSERT_EQ(ps[1].exit_status, 0);
    for (size_t i = 0; i < 2; i++)
        proc_release(&ps[i]);
}

static void test_toolkit_error_lines(void)
{
    static const char *const yes[] = {
        "ValueError: bad shape",
        "  RuntimeError: rank 1 lost its shard",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
        "Exception: plain",
        "my.pkg.CustomException: x",
        "[1,1]<stderr>:RuntimeError: rank 1 lost its shard",
    };
    static const char *const no[] = {
        "Error: 0.25",
        "train:error=0.25;",
        "Traceback (most recent call last):",
        "  File \"train.py\", line 3, in <module>",
        "UserWarning: deprecated",
        "valueError: lower case",
        "============================================================",
        "RuntimeError",
        "[1,0]<stderr>:[hwloc/linux] failed to find sysfs cpu topology",
        "",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(yes); i++)
        ASSERT_TRUE(toolkit_error_line(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < KILN_ARRAY_LEN(no); i++)
        ASSERT_TRUE(!toolkit_error_line(no[i], strlen(no[i])));
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
    {"bubblewrap argv", test_sandbox_argv},
    {"instances' addresses and /etc/hosts", test_sandbox_hosts},
    {"distributed launchers are named", test_toolkit_launcher},
    {"script mode: Python's str() of hyper-parameters", test_python_str},
    {"script mode: command line and SM_* environment", test_toolkit_command},
    {"script mode: torchrun for torch_distributed", test_toolkit_torchrun},
    {"script mode: mpirun and kiln rshd for mpi", test_toolkit_mpirun},
    {"kiln rsh: the request and its refusals", test_rsh_request},
    {"proc_pump: followers end with their leader", test_pump_followers},
    {"script mode: the lines of the toolkit's ErrorMessage",
     test_toolkit_error_lines},
};

HARNESS_MAIN(tests)
