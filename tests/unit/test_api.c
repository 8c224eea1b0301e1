/*
 * test_api.c - the JSON 1.1 path: operation table, request decoding, the
 * shape validator's AWS wording, and ListTrainingJobs' filters, sort orders
 * and NextToken paging over a real metadata store; request ids and
 * the body hash taken as the body arrives.
 */
#include <pthread.h>
#include <unistd.h>
#include <zlib.h>

#include "api/dispatch.h"
#include "api/training.h"
#include "api/tuning.h"
#include "auth/sigv4.h"
#include "base/str.h"
#include "harness.h"
#include "http/eventstream.h"
#include "http/request.h"
#include "meta/meta.h"

static struct meta *open_temp(char *path, size_t size)
{
    struct meta *m = NULL;
    struct kiln_diag d = {0};
    snprintf(path, size, "/tmp/kiln-test-api-%d.db", (int)getpid());
    unlink(path);
    if (meta_open(path, &m, &d) != 0)
        fprintf(stderr, "meta_open: %s\n", d.msg);
    return m;
}

static void close_temp(struct meta *m, const char *path)
{
    char extra[300];
    meta_close(m);
    unlink(path);
    snprintf(extra, sizeof(extra), "%s-wal", path);
    unlink(extra);
    snprintf(extra, sizeof(extra), "%s-shm", path);
    unlink(extra);
}

static int run(struct meta *m, const char *body, struct buf *out,
               struct kiln_diag *d)
{
    const struct api_op *op =
        api_op_find("sagemaker", "SageMaker.ListTrainingJobs");
    struct api_ctx c = {.meta = m,
                        .account = "123456789012",
                        .region = "us-east-1",
                        .request_id = "r"};
    buf_reset(out);
    return api_dispatch(op, &c, body, strlen(body), out, d);
}

static void test_op_table(void)
{
    ASSERT_TRUE(api_op_find("sagemaker", "SageMaker.ListTrainingJobs"));
    ASSERT_TRUE(!api_op_find("logs", "SageMaker.ListTrainingJobs"));
    ASSERT_TRUE(!api_op_find("sagemaker", "SageMaker.NoSuchThing"));
}

static void test_decode_errors(void)
{
    char path[128];
    struct meta *m = open_temp(path, sizeof(path));
    struct buf out = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};

    ASSERT_TRUE(m != NULL);
    ASSERT_EQ(run(m, "{\"MaxResults\": ", &out, &d), KILN_ESERIAL);
    ASSERT_EQ(run(m, "[1,2]", &out, &d), KILN_ESERIAL);
    ASSERT_EQ(run(m, "{\"MaxResults\": \"ten\"}", &out, &d), KILN_ESERIAL);
    ASSERT_CONTAINS(d.msg, "maxResults");
    ASSERT_EQ(run(m, "{\"CreationTimeAfter\": [1]}", &out, &d), KILN_ESERIAL);
    ASSERT_EQ(run(m, "{\"a\":1,\"a\":2}", &out, &d), KILN_ESERIAL);
    ASSERT_EQ(run(m, "", &out, &d), 0);
    ASSERT_STR_EQ(buf_cstr(&out), "{\"TrainingJobSummaries\":[]}");
    buf_release(&out);
    close_temp(m, path);
}

static void test_validation_messages(void)
{
    char path[128];
    struct meta *m = open_temp(path, sizeof(path));
    struct buf out = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};

    ASSERT_EQ(run(m, "{\"MaxResults\": 0}", &out, &d), KILN_EVALIDATION);
    ASSERT_STR_EQ(d.msg, "1 validation error detected: Value '0' at "
                         "'maxResults' failed to satisfy constraint: Member "
                         "must have value greater than or equal to 1");
    ASSERT_EQ(run(m,
                  "{\"StatusEquals\": \"Done\", \"NameContains\": "
                  "\"bad_name\", \"SortOrder\": \"Up\"}",
                  &out, &d),
              KILN_EVALIDATION);
    ASSERT_CONTAINS(d.msg, "3 validation errors detected: ");
    ASSERT_CONTAINS(d.msg, "Value 'bad_name' at 'nameContains' failed to "
                           "satisfy constraint: Member must satisfy regular "
                           "expression pattern: [a-zA-Z0-9\\-]+");
    ASSERT_CONTAINS(d.msg, "Value 'Done' at 'statusEquals' failed to satisfy "
                           "constraint: Member must satisfy enum value set: "
                           "[InProgress, Completed, Failed, Stopping, "
                           "Stopped]");
    ASSERT_EQ(run(m, "{\"NextToken\": \"garbage\"}", &out, &d),
              KILN_EVALIDATION);
    ASSERT_CONTAINS(d.msg, "Invalid pagination token");
    buf_release(&out);
    close_temp(m, path);
}

static void test_required_and_nested(void)
{
    static const struct vshape name = {
        .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 5};
    static const struct vmember item_members[] = {{"VariantName", &name, true},
                                                  {NULL, NULL, false}};
    static const struct vshape item = {.type = VT_STRUCTURE,
                                       .members = item_members};
    static const struct vshape list = {
        .type = VT_LIST, .flags = V_MIN, .min = 1, .item = &item};
    static const struct vmember top_members[] = {
        {"ModelName", &name, true},
        {"ProductionVariants", &list, true},
        {NULL, NULL, false}};
    static const struct vshape top = {.type = VT_STRUCTURE,
                                      .members = top_members};
    struct kiln_diag d = {0};
    json_t *v = json_loads("{\"ProductionVariants\": [{\"VariantName\": "
                           "\"ok\"}, {\"VariantName\": \"toolong\"}]}",
                           0, NULL);

    ASSERT_EQ(validate_request(&top, v, &d), KILN_EVALIDATION);
    json_decref(v);
    ASSERT_CONTAINS(d.msg, "2 validation errors detected: Value null at "
                           "'modelName' failed to satisfy constraint: Member "
                           "must not be null");
    ASSERT_CONTAINS(d.msg, "Value 'toolong' at "
                           "'productionVariants.2.member.variantName' failed "
                           "to satisfy constraint: Member must have length "
                           "less than or equal to 5");
}

static void insert(struct meta *m, const char *name, const char *status,
                   double created)
{
    char arn[200];
    struct kiln_diag d = {0};
    snprintf(arn, sizeof(arn),
             "arn:aws:sagemaker:us-east-1:123456789012:training-job/%s", name);
    struct meta_training_row r = {.name = name,
                                  .arn = arn,
                                  .status = status,
                                  .created = created,
                                  .modified = created};
    if (meta_training_insert(m, "123456789012", &r, NULL, &d) != 0)
        fprintf(stderr, "insert %s: %s\n", name, d.msg);
}

/* Follows NextToken to the end; returns the names in order, joined. */
static int collect(struct meta *m, const char *extra, char *names, size_t size,
                   int *pages)
{
    struct buf out = BUF_INIT(1 << 20), req = BUF_INIT(8192);
    struct kiln_diag d = {0};
    char token[9000] = "";
    int rc = 0;

    names[0] = '\0';
    *pages = 0;
    for (;;) {
        buf_reset(&req);
        buf_addf(&req, "{\"MaxResults\": 2%s%s%s%s}", extra,
                 token[0] ? ", \"NextToken\": \"" : "", token,
                 token[0] ? "\"" : "");
        rc = run(m, buf_cstr(&req), &out, &d);
        if (rc)
            break;
        (*pages)++;
        json_t *res = json_loads(buf_cstr(&out), 0, NULL);
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(res, "TrainingJobSummaries"), i, s)
        {
            size_t n = strlen(names);
            snprintf(names + n, size - n, "%s%s", n ? "," : "",
                     json_string_value(json_object_get(s, "TrainingJobName")));
        }
        const char *t = json_string_value(json_object_get(res, "NextToken"));
        snprintf(token, sizeof(token), "%s", t ? t : "");
        json_decref(res);
        if (!t)
            break;
    }
    buf_release(&out);
    buf_release(&req);
    return rc;
}

static void test_list_paging(void)
{
    char path[128], names[1024];
    struct meta *m = open_temp(path, sizeof(path));
    struct kiln_diag d = {0};
    int pages;

    insert(m, "job-c", "Completed", 100.5);
    insert(m, "Job-A", "Failed", 300.25);
    insert(m, "job-b", "Completed", 200);
    insert(m, "job-e", "InProgress", 200);
    insert(m, "other", "Completed", 50);
    struct meta_training_row dup = {
        .name = "JOB-C", .arn = "x", .status = "Completed"};
    ASSERT_EQ(meta_training_insert(m, "123456789012", &dup, NULL, &d),
              KILN_EINUSE);

    ASSERT_EQ(collect(m, "", names, sizeof(names), &pages), 0);
    ASSERT_STR_EQ(names, "other,job-c,job-b,job-e,Job-A");
    ASSERT_EQ(pages, 3);
    ASSERT_EQ(collect(m,
                      ", \"SortBy\": \"Name\", \"SortOrder\": "
                      "\"Descending\"",
                      names, sizeof(names), &pages),
              0);
    ASSERT_STR_EQ(names, "other,job-e,job-c,job-b,Job-A");
    ASSERT_EQ(collect(m,
                      ", \"NameContains\": \"JOB\", \"StatusEquals\": "
                      "\"Completed\"",
                      names, sizeof(names), &pages),
              0);
    ASSERT_STR_EQ(names, "job-c,job-b");
    ASSERT_EQ(pages, 1);
    ASSERT_EQ(collect(m,
                      ", \"CreationTimeAfter\": 100.5, "
                      "\"CreationTimeBefore\": 300",
                      names, sizeof(names), &pages),
              0);
    ASSERT_STR_EQ(names, "job-b,job-e");
    ASSERT_EQ(
        collect(m, ", \"SortBy\": \"Status\"", names, sizeof(names), &pages),
        0);
    ASSERT_STR_EQ(names, "job-b,job-c,other,Job-A,job-e");
    close_temp(m, path);
}

#define IDS_PER_THREAD 20000

static void *make_ids(void *arg)
{
    char(*ids)[37] = arg;
    for (int i = 0; i < IDS_PER_THREAD; i++) {
        struct http_request *r = http_request_new("GET", "/");
        memcpy(ids[i], r->id, sizeof(ids[i]));
        http_request_free(r);
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 37);
}

/* Ids are drawn per thread without a system call: still UUID version 4
 * in form, and none repeats, within a thread or across two. */
static void test_request_ids(void)
{
    char(*ids)[37] = xcalloc(2 * IDS_PER_THREAD, 37);
    pthread_t t;

    ASSERT_EQ(pthread_create(&t, NULL, make_ids, ids + IDS_PER_THREAD), 0);
    make_ids(ids);
    pthread_join(t, NULL);
    for (int i = 0; i < 2 * IDS_PER_THREAD; i++) {
        const char *id = ids[i];
        ASSERT_EQ(strlen(id), (size_t)36);
        for (int k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                ASSERT_EQ(id[k], '-');
            else
                ASSERT_TRUE(strchr("0123456789abcdef", id[k]) != NULL);
        }
        ASSERT_EQ(id[14], '4');
        ASSERT_TRUE(strchr("89ab", id[19]) != NULL);
    }
    qsort(ids, 2 * IDS_PER_THREAD, 37, cmp_id);
    for (int i = 1; i < 2 * IDS_PER_THREAD; i++)
        ASSERT_TRUE(memcmp(ids[i - 1], ids[i], 37) != 0);
    free(ids);
}

/* The body hashed as it arrives, in uneven pieces, equals the hash of the
 * whole body; so does hashing it all at the end, and a second call. */
static void test_body_hash_streamed(void)
{
    static const char empty[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    char want[65], got[65], again[65];
    struct buf whole = BUF_INIT(1 << 20);
    struct http_request *r = http_request_new("POST", "/x");
    struct http_request *plain = http_request_new("POST", "/x");
    size_t at = 0, step = 1;

    for (int i = 0; i < 300000; i++)
        ASSERT_EQ(buf_addc(&whole, (char)('a' + (i * 7) % 26)), 0);
    sigv4_sha256_hex(whole.data, whole.len, want);
    http_request_hash_body(r);
    while (at < whole.len) {
        size_t n = whole.len - at < step ? whole.len - at : step;
        ASSERT_EQ(buf_add(&r->body, whole.data + at, n), 0);
        http_request_body_added(r);
        at += n;
        step = step * 3 + 1;
    }
    http_request_body_sha256(r, got);
    ASSERT_STR_EQ(got, want);
    http_request_body_sha256(r, again);
    ASSERT_STR_EQ(again, want);
    ASSERT_EQ(buf_add(&plain->body, whole.data, whole.len), 0);
    http_request_body_sha256(plain, got);
    ASSERT_STR_EQ(got, want);
    http_request_free(r);
    http_request_free(plain);
    r = http_request_new("POST", "/x");
    http_request_hash_body(r);
    http_request_body_sha256(r, got);
    ASSERT_STR_EQ(got, empty);
    http_request_free(r);
    buf_release(&whole);
}

/* Text headed for JSON: valid UTF-8 kept, each stray byte one '?'. */
static void test_utf8_fix(void)
{
    static const struct {
        const char *in, *out;
        size_t fixed;
    } cases[] = {
        {"plain", "plain", 0},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82", NULL, 0},
        {"1,2,\xff\xfe,4", "1,2,??,4", 2},
        {"cut \xe2\x82", "cut ??", 2},   /* a sequence cut short */
        {"\xc0\xaf", "??", 2},           /* overlong '/' */
        {"\xed\xa0\x80", "???", 3},      /* a surrogate */
        {"\xf4\x90\x80\x80", "????", 4}, /* past U+10FFFF */
        {"\xe2\x28\xa1", "?(?", 2},      /* a bad continuation */
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        char s[64];
        str_copy(s, cases[i].in, sizeof(s));
        ASSERT_EQ(str_utf8_fix(s, strlen(s)), cases[i].fixed);
        ASSERT_STR_EQ(s, cases[i].out ? cases[i].out : cases[i].in);
        json_t *j = json_string(s);
        ASSERT_TRUE(j != NULL);
        json_decref(j);
    }
}

/* The empty message is aws-c-event-stream's own test vector; the rest
 * checks the layout field by field and the limits. */
static void test_eventstream(void)
{
    static const unsigned char empty[] = {0,    0,    0,    0x10, 0,    0,
                                          0,    0,    0x05, 0xc2, 0x48, 0xeb,
                                          0x7d, 0x98, 0xc8, 0xff};
    static const struct es_header h[] = {{":event-type", "PayloadPart"}};
    struct buf b = BUF_INIT(1 << 20);
    char big[70000];

    ASSERT_EQ(eventstream_add(&b, NULL, 0, NULL, 0), 0);
    ASSERT_EQ(b.len, sizeof(empty));
    ASSERT_TRUE(memcmp(b.data, empty, sizeof(empty)) == 0);
    buf_reset(&b);
    ASSERT_EQ(eventstream_add(&b, h, 1, "abc", 3), 0);
    /* 12 prelude + (1 + 11 + 1 + 2 + 11) header + 3 payload + 4 CRC */
    ASSERT_EQ(b.len, 45u);
    const unsigned char *p = (const unsigned char *)b.data;
    ASSERT_EQ(p[3], 45);
    ASSERT_EQ(p[7], 26);
    ASSERT_EQ(p[12], 11);
    ASSERT_TRUE(memcmp(p + 13, ":event-type", 11) == 0);
    ASSERT_EQ(p[24], 7);
    ASSERT_EQ(p[26], 11);
    ASSERT_TRUE(memcmp(p + 27, "PayloadPart", 11) == 0);
    ASSERT_TRUE(memcmp(p + 38, "abc", 3) == 0);
    uint32_t crc = (uint32_t)crc32(0L, p, 41);
    ASSERT_EQ(((uint32_t)p[41] << 24 | (uint32_t)p[42] << 16 |
               (uint32_t)p[43] << 8 | p[44]),
              crc);
    /* Past a limit: refused, the buffer as it was. */
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct es_header long_value = {"n", big};
    ASSERT_EQ(eventstream_add(&b, &long_value, 1, "", 0), KILN_ETOOBIG);
    struct buf small = BUF_INIT(40);
    ASSERT_EQ(eventstream_add(&small, h, 1, "abc", 3), KILN_ETOOBIG);
    ASSERT_EQ(small.len, 0u);
    ASSERT_EQ(b.len, 45u);
    buf_release(&small);
    buf_release(&b);
}

static void check_hyperband(const char *json, int rc, long min, long max)
{
    json_t *doc = json_loads(json, 0, NULL);
    long lo = -1, hi = -1;
    ASSERT_TRUE(doc != NULL);
    ASSERT_EQ(tuning_hyperband_resources(doc, &lo, &hi), rc);
    if (rc == 0) {
        ASSERT_EQ(lo, min);
        ASSERT_EQ(hi, max);
    }
    json_decref(doc);
}

static void test_hyperband_resources(void)
{
#define HB(cfg, statics)                                                       \
    "{\"HyperParameterTuningJobConfig\": {\"StrategyConfig\": "                \
    "{\"HyperbandStrategyConfig\": " cfg "}}, \"TrainingJobDefinition\": "     \
    "{\"StaticHyperParameters\": " statics "}}"
    check_hyperband(HB("{\"MinResource\": 2, \"MaxResource\": 30}", "{}"), 0, 2,
                    30);
    /* MaxResource from the static epochs, as SageMaker infers it. */
    check_hyperband(HB("{}", "{\"epochs\": \"27\"}"), 0, 1, 27);
    check_hyperband(HB("{}", "{\"num_epochs\": \"5\"}"), 0, 1, 5);
    check_hyperband(HB("{}", "{\"n_epochs\": \"5x\"}"), KILN_EVALIDATION, 0, 0);
    check_hyperband(HB("{\"MinResource\": 9}", "{\"epochs\": \"3\"}"),
                    KILN_EVALIDATION, 0, 0);
#undef HB
}

static const struct test tests[] = {
    {"utf8_fix", test_utf8_fix},
    {"operation table", test_op_table},
    {"request decoding errors", test_decode_errors},
    {"validation messages", test_validation_messages},
    {"required and nested members", test_required_and_nested},
    {"ListTrainingJobs filters, sorting, paging", test_list_paging},
    {"request ids", test_request_ids},
    {"body hashed as it arrives", test_body_hash_streamed},
    {"event-stream messages", test_eventstream},
    {"Hyperband's resources", test_hyperband_resources},
};

HARNESS_MAIN(tests)
