/*
 * test_config.c - the option table: defaults, file syntax and errors, and
 * precedence flags > environment > file > defaults.
 */
#include <unistd.h>

#include "cmd/config.h"
#include "harness.h"

static void test_defaults(void)
{
    struct kiln_config c;
    config_init(&c);
    ASSERT_STR_EQ(c.bind, "127.0.0.1");
    ASSERT_EQ(c.port, 9000);
    ASSERT_STR_EQ(c.data_dir, "./var");
    ASSERT_STR_EQ(c.region, "us-east-1");
    ASSERT_STR_EQ(c.account_id, "000000000000");
    ASSERT_TRUE(c.config_file == NULL);
    config_release(&c);
}

static void test_file_syntax(void)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    static const char good[] = "# comment\n\n  port = 9100  \r\n"
                               "region=eu-west-1\nlog-level = debug";
    config_init(&c);
    ASSERT_EQ(config_parse_text(&c, good, strlen(good), "f", &d), 0);
    ASSERT_EQ(c.port, 9100);
    ASSERT_STR_EQ(c.region, "eu-west-1");
    ASSERT_STR_EQ(c.log_level, "debug");

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"port 9100\n", "f:1: expected 'key = value'"},
        {"\nnope = 1\n", "f:2: unknown option 'nope'"},
        {"port = 70000\n", "f:1: port must be a whole number from 0 to 65535"},
        {"port = 9x\n", "f:1: port must be a whole number"},
        {"account-id = 12345\n", "f:1: account-id must be 12 digits"},
        {"log-level = loud\n", "f:1: log-level must be debug"},
        {"region = us east\n", "f:1: region 'us east' is not valid"},
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        ASSERT_EQ(
            config_parse_text(&c, bad[i].text, strlen(bad[i].text), "f", &d),
            KILN_EINVAL);
        ASSERT_CONTAINS(d.msg, bad[i].msg);
    }
    ASSERT_EQ(c.port, 9100); /* failed lines changed nothing */
    config_release(&c);
}

static void test_precedence(void)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    char path[128];
    int rest[8], nrest;
    char a0[] = "--config", a1[128], a2[] = "--port=9300", a3[] = "extra",
         a4[] = "--data-dir", a5[] = "/tmp/x";
    char *argv[] = {a0, a1, a2, a3, a4, a5};
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/kiln-test-config-%d", (int)getpid());
    snprintf(a1, sizeof(a1), "%s", path);
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs("port = 9100\nregion = eu-west-1\nbind = 0.0.0.0\n", f);
    fclose(f);
    setenv("KILN_PORT", "9200", 1);
    setenv("KILN_REGION", "ap-south-1", 1);

    config_init(&c);
    ASSERT_EQ(config_load(&c, 6, argv, rest, &nrest, &d), 0);
    ASSERT_EQ(c.port, 9300);               /* flag over env and file */
    ASSERT_STR_EQ(c.region, "ap-south-1"); /* env over file */
    ASSERT_STR_EQ(c.bind, "0.0.0.0");      /* file over default */
    ASSERT_STR_EQ(c.data_dir, "/tmp/x");
    ASSERT_STR_EQ(c.config_file, path);
    ASSERT_EQ(nrest, 1);
    ASSERT_EQ(rest[0], 3);
    config_release(&c);

    setenv("KILN_PORT", "-1", 1);
    config_init(&c);
    ASSERT_EQ(config_load(&c, 0, argv, rest, &nrest, &d), KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "KILN_PORT: port must be");
    config_release(&c);
    unsetenv("KILN_PORT");
    unsetenv("KILN_REGION");
    unlink(path);
}

static void test_show_and_doc(void)
{
    struct kiln_config c;
    struct buf b = BUF_INIT(1 << 16);
    config_init(&c);
    config_show(&c, &b);
    ASSERT_CONTAINS(buf_cstr(&b), "port = 9000\n");
    buf_reset(&b);
    config_doc(&b);
    ASSERT_CONTAINS(buf_cstr(&b), "| `--data-dir` | `KILN_DATA_DIR` |");
    buf_release(&b);
    config_release(&c);
}

static const struct test tests[] = {
    {"defaults", test_defaults},
    {"config file syntax and errors", test_file_syntax},
    {"precedence", test_precedence},
    {"show and doc", test_show_and_doc},
};

HARNESS_MAIN(tests)
