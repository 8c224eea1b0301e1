/*
 * test_monitor.c - Model Monitor's analysis (src/algos/monitor) and the
 * schedule expressions and offsets of monitoring schedules
 * (src/api/monitoring.c), on inputs whose answers are worked out by hand.
 */
#include <string.h>

#include "algos/monitor/monitor.h"
#include "api/monitoring.h"
#include "harness.h"

static json_t *feature(json_t *doc, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "features"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    }
    return NULL;
}

static void test_statistics_by_hand(void)
{
    static const char csv[] = "x,n,word\n"
                              "1.5,1,\"a,b\"\n"
                              "2.5,2,c\n"
                              ",3,c\r\n"
                              "\n"
                              "4,-4,c\n";
    struct mon_table t;
    struct kiln_diag d = {0};
    mon_table_init(&t);
    ASSERT_EQ(mon_read_csv(&t, csv, strlen(csv), true, &d), 0);
    ASSERT_EQ(t.rows, 4);
    json_t *s = mon_statistics(&t), *c = mon_constraints(&t);
    json_t *x = feature(s, "x"), *n = feature(s, "n"), *w = feature(s, "word");
    ASSERT_STR_EQ(json_string_value(json_object_get(x, "inferred_type")),
                  "Fractional");
    ASSERT_STR_EQ(json_string_value(json_object_get(n, "inferred_type")),
                  "Integral");
    ASSERT_STR_EQ(json_string_value(json_object_get(w, "inferred_type")),
                  "String");
    json_t *xs = json_object_get(x, "numerical_statistics");
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(xs, "common"),
                                                 "num_missing")),
              1);
    ASSERT_TRUE(fabs(json_number_value(json_object_get(xs, "mean")) - 8.0 / 3) <
                1e-12);
    ASSERT_TRUE(json_number_value(json_object_get(xs, "min")) == 1.5);
    ASSERT_TRUE(json_number_value(json_object_get(xs, "max")) == 4.0);
    json_t *buckets = json_object_get(
        json_object_get(json_object_get(xs, "distribution"), "kll"), "buckets");
    ASSERT_EQ(json_array_size(buckets), MON_BUCKETS);
    /* 1.5 and 2.5 in the first and fourth of ten 0.25-wide buckets, 4 in
     * the last (closed). */
    ASSERT_EQ(json_integer_value(
                  json_object_get(json_array_get(buckets, 0), "count")),
              1);
    ASSERT_EQ(json_integer_value(
                  json_object_get(json_array_get(buckets, 4), "count")),
              1);
    ASSERT_EQ(json_integer_value(
                  json_object_get(json_array_get(buckets, 9), "count")),
              1);
    json_t *cx = feature(c, "x"), *cn = feature(c, "n"),
           *cw = feature(c, "word");
    ASSERT_TRUE(json_number_value(json_object_get(cx, "completeness")) == 0.75);
    ASSERT_TRUE(json_is_false(json_object_get(
        json_object_get(cn, "num_constraints"), "is_non_negative")));
    json_t *dom =
        json_object_get(json_object_get(cw, "string_constraints"), "domains");
    ASSERT_EQ(json_array_size(dom), 2);
    ASSERT_STR_EQ(json_string_value(json_array_get(dom, 0)), "a,b");

    /* The same data against its own baseline: nothing to report. */
    json_t *v = NULL;
    ASSERT_EQ(mon_violations(&t, s, c, &v, &d), 0);
    char *none = json_dumps(v, JSON_COMPACT);
    ASSERT_STR_EQ(none, "{\"violations\":[]}");
    mem_free(none);
    json_decref(v);

    /* Drifted and broken data, named by the baseline. */
    char **names = NULL;
    size_t nn = 0;
    ASSERT_EQ(mon_baseline_names(s, &names, &nn, &d), 0);
    struct mon_table cur;
    mon_table_init(&cur);
    mon_table_names(&cur, (const char *const *)names, nn);
    static const char bad[] = "9,1.5,zz\n9,2,zz\n9,x,c,extra\n";
    ASSERT_EQ(mon_read_csv(&cur, bad, strlen(bad), false, &d), 0);
    ASSERT_EQ(mon_violations(&cur, s, c, &v, &d), 0);
    char *text = json_dumps(v, JSON_COMPACT);
    /* x: all 9, far above the baseline's distribution. */
    ASSERT_CONTAINS(text, "\"feature_name\":\"x\",\"constraint_check_type\":"
                          "\"baseline_drift_check\"");
    /* n: one integer of three. */
    ASSERT_CONTAINS(text, "Only 33.3% of data is Integral");
    /* word: one of three in the domain. */
    ASSERT_CONTAINS(text, "Only 33.3% of data is in the domain");
    ASSERT_CONTAINS(text, "extra_column_check");
    mem_free(text);
    json_decref(v);
    for (size_t i = 0; i < nn; i++)
        mem_free(names[i]);
    mem_free(names);
    mon_table_release(&cur);
    json_decref(s);
    json_decref(c);
    mon_table_release(&t);
}

static void test_capture_records(void)
{
    /* "1,2\n3,4" in base64, a JSON request, and one outside the window. */
    static const char cap[] =
        "{\"captureData\":{\"endpointInput\":{\"observedContentType\":"
        "\"text/csv\",\"mode\":\"INPUT\",\"data\":\"MSwyCjMsNA==\","
        "\"encoding\":\"BASE64\"}},\"eventMetadata\":{\"inferenceTime\":"
        "\"2026-01-01T00:00:10Z\"}}\n"
        "{\"captureData\":{\"endpointInput\":{\"observedContentType\":"
        "\"application/json\",\"data\":\"{}\",\"encoding\":\"JSON\"}},"
        "\"eventMetadata\":{\"inferenceTime\":\"2026-01-01T00:00:11Z\"}}\n"
        "{\"captureData\":{\"endpointInput\":{\"observedContentType\":"
        "\"text/csv\",\"data\":\"5,6\",\"encoding\":\"CSV\"}},"
        "\"eventMetadata\":{\"inferenceTime\":\"2026-01-01T02:00:00Z\"}}\n";
    struct mon_table t;
    struct kiln_diag d = {0};
    double start = 1767225600.0; /* 2026-01-01T00:00:00Z */
    mon_table_init(&t);
    ASSERT_EQ(mon_read_capture(&t, cap, strlen(cap), start, start + 3600, &d),
              0);
    ASSERT_EQ(t.rows, 2);
    ASSERT_EQ(t.skipped, 2);
    ASSERT_TRUE(t.cols[1].sum == 6.0);
    mon_table_release(&t);

    mon_table_init(&t);
    ASSERT_EQ(mon_read_capture(&t, "{\"x\":1}\n", 8, 0, 0, &d), KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "not a data capture record");
    mon_table_release(&t);
}

static void test_schedule_expressions(void)
{
    double next = -1;
    double t = 1767225600.0 + 30 * 60; /* 2026-01-01T00:30:00Z */
    ASSERT_EQ(monitoring_next("cron(0 * ? * * *)", t, &next), 0);
    ASSERT_TRUE(next == 1767225600.0 + 3600);
    ASSERT_EQ(monitoring_next("cron(0 */6 ? * * *)", t, &next), 0);
    ASSERT_TRUE(next == 1767225600.0 + 6 * 3600);
    ASSERT_EQ(monitoring_next("cron(0 5 ? * * *)", t, &next), 0);
    ASSERT_TRUE(next == 1767225600.0 + 5 * 3600);
    /* Strictly after: at 05:00 exactly, the next daily run is tomorrow. */
    ASSERT_EQ(
        monitoring_next("cron(0 5 ? * * *)", 1767225600.0 + 5 * 3600, &next),
        0);
    ASSERT_TRUE(next == 1767225600.0 + 29 * 3600);
    ASSERT_EQ(monitoring_next("NOW", t, &next), 0);
    ASSERT_TRUE(next == 0);
    ASSERT_EQ(monitoring_next("cron(0 */7 ? * * *)", t, &next), KILN_EINVAL);
    ASSERT_EQ(monitoring_next("cron(0 24 ? * * *)", t, &next), KILN_EINVAL);
    ASSERT_EQ(monitoring_next("cron(0 * ? * * *) ", t, &next), KILN_EINVAL);
    ASSERT_EQ(monitoring_next("rate(1 hour)", t, &next), KILN_EINVAL);

    double s = 0;
    ASSERT_EQ(monitoring_offset("-PT1H", &s), 0);
    ASSERT_TRUE(s == -3600);
    ASSERT_EQ(monitoring_offset("-PT2H30M", &s), 0);
    ASSERT_TRUE(s == -9000);
    ASSERT_EQ(monitoring_offset("PT0H", &s), 0);
    ASSERT_TRUE(s == 0);
    ASSERT_EQ(monitoring_offset("-P1DT1S", &s), 0);
    ASSERT_TRUE(s == -86401);
    ASSERT_EQ(monitoring_offset("-PT", &s), KILN_EINVAL);
    ASSERT_EQ(monitoring_offset("-P1H", &s), KILN_EINVAL);
    ASSERT_EQ(monitoring_offset("1H", &s), KILN_EINVAL);
    ASSERT_EQ(monitoring_offset(NULL, &s), KILN_EINVAL);
}

static const struct test tests[] = {
    {"statistics, constraints and violations by hand", test_statistics_by_hand},
    {"capture records: base64, content types, window", test_capture_records},
    {"schedule expressions and analysis offsets", test_schedule_expressions},
};

HARNESS_MAIN(tests)
