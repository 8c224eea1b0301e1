/*
 * test_sigv4.c - SigV4 against AWS's published vectors and the ones in
 * api-contract.md §6.4 (recomputed there with botocore's signer).
 */
#include "auth/sigv4.h"
#include "base/str.h"
#include "harness.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

struct vector {
    const char *name;
    const char *method, *path, *query;
    bool s3;
    struct http_header headers[8];
    size_t nheaders;
    const char *body; /* hashed unless payload_hash is set */
    const char *payload_hash;
    const char *authorization;
    const char *creq_sha; /* hex SHA-256 of the canonical request */
};

static const struct vector vectors[] = {
    {
        .name = "get-vanilla (AWS suite)",
        .method = "GET",
        .path = "/",
        .query = "",
        .headers = {{"Host", "example.amazonaws.com"},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nheaders = 2,
        .body = "",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
            "service/aws4_request, SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aa"
            "e1d763fbf31",
    },
    {
        .name = "get-vanilla-query-order-key-case (AWS suite)",
        .method = "GET",
        .path = "/",
        .query = "Param2=value2&Param1=value1",
        .headers = {{"Host", "example.amazonaws.com"},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nheaders = 2,
        .body = "",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
            "service/aws4_request, SignedHeaders=host;x-amz-date, "
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219"
            "ec94cdf2500",
    },
    {
        .name = "post-x-www-form-urlencoded (AWS suite)",
        .method = "POST",
        .path = "/",
        .query = "",
        .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                    {"Host", "example.amazonaws.com"},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nheaders = 3,
        .body = "Param1=value1",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
            "service/aws4_request, SignedHeaders=content-type;host;"
            "x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc384"
            "21b1da7b9d196a0fe09473a",
    },
    {
        .name = "header value spaces, repeated query name",
        .method = "GET",
        .path = "/",
        .query = "Param1=value2&Param1=Value1",
        .headers = {{"Host", "example.amazonaws.com"},
                    {"My-Header1", "  value1   with  spaces  "},
                    {"X-Amz-Date", "20150830T123600Z"}},
        .nheaders = 3,
        .body = "",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
            "service/aws4_request,SignedHeaders=host;my-header1;x-amz-date,"
            "Signature=bf37ce1b30ef8b2c94c716985505ba07f656ae90523373c5d62a4"
            "ae4652444a9",
    },
    {
        .name = "S3 GET (api-contract 6.4.2)",
        .method = "GET",
        .path = "/my-bucket/dir/a%20b%2Bc.txt",
        .query = "",
        .s3 = true,
        .headers = {{"Host", "127.0.0.1:9000"},
                    {"Range", "bytes=0-9"},
                    {"x-amz-content-sha256",
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991"
                     "b7852b855"},
                    {"X-Amz-Date", "20250101T000000Z"}},
        .nheaders = 4,
        .payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
                        "95991b7852b855",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/s3/"
            "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
            "x-amz-date, Signature=377199dbb44f6266519bf163fc419a5c844c767b5"
            "6f8a7dcede7f8a3866b4766",
        .creq_sha = "26882485d278308ddf0e9f9cac22d387cb719826e423ba2aa391df"
                    "449a3f0123",
    },
    {
        .name = "SageMaker JSON 1.1 (api-contract 6.4.3)",
        .method = "POST",
        .path = "/",
        .query = "",
        .headers = {{"Content-Type", "application/x-amz-json-1.1"},
                    {"Host", "127.0.0.1:9000"},
                    {"X-Amz-Date", "20250101T000000Z"},
                    {"X-Amz-Target", "SageMaker.DescribeTrainingJob"}},
        .nheaders = 4,
        .body = "{\"TrainingJobName\": \"my-job\"}",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/"
            "sagemaker/aws4_request, SignedHeaders=content-type;host;"
            "x-amz-date;x-amz-target, Signature=b051f33cc87c2d0dbb6ab44ca374"
            "4c5706c44036c2ff8c2a94002a38d1cfceb8",
        .creq_sha = "cb4d72423df3cd3a493ec9c6c42ccd67c294c4e3d97652d30cd7a0"
                    "687151d07b",
    },
};

static void run_vector(const struct vector *v, const char *secret, int expect)
{
    struct sigv4_auth a;
    struct kiln_diag d = {0};
    struct buf creq = BUF_INIT(1 << 20);
    char hash[65], creq_sha[65];
    const char *date = NULL;

    ASSERT_EQ(sigv4_parse_authorization(v->authorization, &a, &d), 0);
    for (size_t i = 0; i < v->nheaders; i++)
        if (strcmp(v->headers[i].name, "X-Amz-Date") == 0)
            date = v->headers[i].value;
    ASSERT_TRUE(date != NULL);
    memcpy(a.amz_date, date, 17);
    sigv4_sha256_hex(v->body ? v->body : "", v->body ? strlen(v->body) : 0,
                     hash);
    struct sigv4_input in = {
        .method = v->method,
        .path = v->path,
        .query = v->query,
        .s3 = v->s3,
        .headers = v->headers,
        .nheaders = v->nheaders,
        .payload_hash = v->payload_hash ? v->payload_hash : hash,
    };
    if (v->creq_sha) {
        ASSERT_EQ(sigv4_canonical_request(&in, &a, &creq, &d), 0);
        sigv4_sha256_hex(creq.data, creq.len, creq_sha);
        buf_release(&creq);
        ASSERT_STR_EQ(creq_sha, v->creq_sha);
    }
    ASSERT_EQ(sigv4_verify(&in, &a, secret, NULL, &d), expect);
}

static void test_vectors(void)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(vectors); i++) {
        fprintf(stderr, "  vector: %s\n", vectors[i].name);
        run_vector(&vectors[i], SECRET, 0);
        if (harness_failed_now)
            return;
    }
}

static void test_wrong_secret_fails(void)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(vectors); i++) {
        run_vector(&vectors[i], "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
                   KILN_EBADSIG);
        if (harness_failed_now)
            return;
    }
}

static void test_signing_key(void)
{
    uint8_t key[32];
    char hex[65];
    sigv4_signing_key(SECRET, "20120215", "us-east-1", "iam", key);
    str_hex(key, 32, hex);
    ASSERT_STR_EQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e0"
                       "90d414db404d");
}

/* The seed signature of AWS's chunked-upload example (6.4.4). */
static void test_chunked_seed(void)
{
    static const struct http_header h[] = {
        {"content-encoding", "aws-chunked"},
        {"content-length", "66824"},
        {"host", "s3.amazonaws.com"},
        {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-decoded-content-length", "66560"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
    };
    struct sigv4_auth a;
    struct kiln_diag d = {0};
    const char *authz =
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request,SignedHeaders=content-encoding;content-length;host;"
        "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        "x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4"
        "690baa4adea153f7db9fa80a0a9";

    ASSERT_EQ(sigv4_parse_authorization(authz, &a, &d), 0);
    memcpy(a.amz_date, "20130524T000000Z", 17);
    struct sigv4_input in = {
        .method = "PUT",
        .path = "/examplebucket/chunkObject.txt",
        .query = "",
        .s3 = true,
        .headers = h,
        .nheaders = KILN_ARRAY_LEN(h),
        .payload_hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    };
    ASSERT_EQ(sigv4_verify(&in, &a, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                           NULL, &d),
              0);
}

static void test_parse_authorization(void)
{
    struct sigv4_auth a;
    struct kiln_diag d = {0};
    static const char *const bad[] = {
        "",
        "AWS AKID:sig",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request,"
        " SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3, "
        "SignedHeaders=host, Signature=" /* 64 hex */
        "0000000000000000000000000000000000000000000000000000000000000000",
        "AWS4-HMAC-SHA256 Credential=AKID/2025/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature="
        "0000000000000000000000000000000000000000000000000000000000000000",
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/x/"
        "aws4_request, SignedHeaders=host, Signature="
        "0000000000000000000000000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++)
        ASSERT_EQ(sigv4_parse_authorization(bad[i], &a, &d), KILN_EAUTHFORMAT);

    ASSERT_EQ(sigv4_parse_authorization(
                  "AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/"
                  "sagemaker/aws4_request,SignedHeaders=host;x-amz-date,"
                  "Signature=00000000000000000000000000000000000000000000000"
                  "00000000000000abc",
                  &a, &d),
              0);
    ASSERT_STR_EQ(a.akid, "AKID");
    ASSERT_STR_EQ(a.date, "20250101");
    ASSERT_STR_EQ(a.region, "eu-west-1");
    ASSERT_STR_EQ(a.service, "sagemaker");
    ASSERT_STR_EQ(a.signed_headers, "host;x-amz-date");
    ASSERT_TRUE(!a.presigned);
}

static void test_presigned(void)
{
    struct sigv4_auth a;
    struct kiln_diag d = {0};
    const char *q =
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F"
        "20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z"
        "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct buf cq = BUF_INIT(4096);

    ASSERT_EQ(sigv4_parse_presigned("list-type=2", &a, &d), KILN_CONTINUE);
    ASSERT_EQ(sigv4_parse_presigned(NULL, &a, &d), KILN_CONTINUE);
    ASSERT_EQ(sigv4_parse_presigned(q, &a, &d), 0);
    ASSERT_TRUE(a.presigned);
    ASSERT_EQ(a.expires, 3600);
    ASSERT_STR_EQ(a.akid, "AKIDEXAMPLE");
    ASSERT_STR_EQ(a.service, "s3");
    ASSERT_STR_EQ(a.amz_date, "20250101T000000Z");

    /* The canonical query keeps everything but the signature. */
    ASSERT_EQ(sigv4_canonical_query(q, true, &cq), 0);
    ASSERT_TRUE(strstr(buf_cstr(&cq), "X-Amz-Signature") == NULL);
    ASSERT_CONTAINS(buf_cstr(&cq),
                    "X-Amz-Credential=AKIDEXAMPLE%2F20250101%2Fus-east-1%2F"
                    "s3%2Faws4_request&X-Amz-Date=");
    buf_release(&cq);

    /* Time window: valid inside, expired after. */
    int64_t t;
    ASSERT_EQ(sigv4_parse_amz_date("20250101T000000Z", &t), 0);
    ASSERT_EQ(t, 1735689600);
    ASSERT_EQ(sigv4_check_time(&a, t + 3600, &d), 0);
    ASSERT_EQ(sigv4_check_time(&a, t + 3601, &d), KILN_EEXPIRED);
    ASSERT_EQ(sigv4_check_time(&a, t - 901, &d), KILN_ESKEW);

    ASSERT_EQ(sigv4_parse_presigned("X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                                    "X-Amz-Expires=604801",
                                    &a, &d),
              KILN_EAUTHFORMAT);
    ASSERT_EQ(sigv4_parse_presigned("X-Amz-Algorithm=AWS4-HMAC-SHA1", &a, &d),
              KILN_EAUTHFORMAT);
    ASSERT_EQ(sigv4_parse_presigned("X-Amz-Algorithm=AWS4-HMAC-SHA256", &a, &d),
              KILN_EAUTHFORMAT);
}

static void test_check_time(void)
{
    struct sigv4_auth a = {.expires = -1};
    struct kiln_diag d = {0};
    int64_t t;

    memcpy(a.date, "20250101", 9);
    memcpy(a.amz_date, "20250101T001500Z", 17);
    ASSERT_EQ(sigv4_parse_amz_date(a.amz_date, &t), 0);
    ASSERT_EQ(sigv4_check_time(&a, t, &d), 0);
    ASSERT_EQ(sigv4_check_time(&a, t + 900, &d), 0);
    ASSERT_EQ(sigv4_check_time(&a, t + 901, &d), KILN_ESKEW);
    ASSERT_CONTAINS(d.msg, "Signature expired: 20250101T001500Z is now "
                           "earlier than 20250101T001501Z");
    ASSERT_EQ(sigv4_check_time(&a, t - 901, &d), KILN_ESKEW);
    ASSERT_CONTAINS(d.msg, "Signature not yet current");
    memcpy(a.date, "20250102", 9);
    ASSERT_EQ(sigv4_check_time(&a, t, &d), KILN_EAUTHFORMAT);
    memcpy(a.amz_date, "2025-01-01T0015", 16);
    ASSERT_EQ(sigv4_check_time(&a, t, &d), KILN_EAUTHFORMAT);
}

static void test_canonical_uri(void)
{
    static const struct {
        const char *in;
        bool s3;
        const char *out;
    } cases[] = {
        {"", true, "/"},
        {"/b/a%20b%2Bc.txt", true, "/b/a%20b%2Bc.txt"},
        {"/b/a b+c.txt", true, "/b/a%20b%2Bc.txt"},
        {"/b/a//b/./x/../y", true, "/b/a//b/./x/../y"},
        {"/b/%28x%29!*'~", true, "/b/%28x%29%21%2A%27~"},
        {"/b/caf%C3%A9", true, "/b/caf%C3%A9"},
        {"/endpoints/ep-1/invocations", false, "/endpoints/ep-1/invocations"},
        {"/a%2Fb", false, "/a%252Fb"},
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        struct buf b = BUF_INIT(4096);
        ASSERT_EQ(sigv4_canonical_uri(cases[i].in, cases[i].s3, &b), 0);
        char got[256];
        snprintf(got, sizeof(got), "%s", buf_cstr(&b));
        buf_release(&b);
        ASSERT_STR_EQ(got, cases[i].out);
    }
}

static void test_canonical_query(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"uploads", "uploads="},
        {"b=2&a=1&a=0", "a=0&a=1&b=2"},
        {"prefix=a%20b&delimiter=%2F", "delimiter=%2F&prefix=a%20b"},
        {"k=a+b", "k=a%20b"},
        {"k=%7e~", "k=~~"},
        {"&&x=1&", "x=1"},
        {"list-type=2&max-keys=1000", "list-type=2&max-keys=1000"},
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        struct buf b = BUF_INIT(4096);
        ASSERT_EQ(sigv4_canonical_query(cases[i].in, false, &b), 0);
        char got[256];
        snprintf(got, sizeof(got), "%s", buf_cstr(&b));
        buf_release(&b);
        ASSERT_STR_EQ(got, cases[i].out);
    }
}

/* AWS's own example of a presigned GET (S3 developer guide, "Query
 * parameters"), then a round trip through the verifier. */
static void test_presign(void)
{
    struct kiln_diag d = {0};
    struct buf url = BUF_INIT(1 << 16);
    struct sigv4_presign_req p = {
        .method = "GET",
        .base = "https://examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .akid = "AKIAIOSFODNN7EXAMPLE",
        .secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        .region = "us-east-1",
        .service = "s3",
        .now = 1369353600, /* 2013-05-24T00:00:00Z */
        .expires = 86400};
    ASSERT_EQ(sigv4_presign(&p, &url, &d), 0);
    ASSERT_STR_EQ(
        buf_cstr(&url),
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-"
        "HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
        "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires="
        "86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");

    /* A key with bytes to encode, verified as the front door would. */
    struct buf path = BUF_INIT(1 << 16);
    static const char key[] = "/b/dir/a key+%~.bin";
    ASSERT_EQ(sigv4_uri_encode(key, strlen(key), true, &path), 0);
    ASSERT_STR_EQ(buf_cstr(&path), "/b/dir/a%20key%2B%25~.bin");
    buf_reset(&url);
    p.base = "http://10.0.0.1:9000";
    p.path = buf_cstr(&path);
    p.method = "PUT";
    ASSERT_EQ(sigv4_presign(&p, &url, &d), 0);
    const char *q = strchr(buf_cstr(&url), '?') + 1;
    struct sigv4_auth a;
    ASSERT_EQ(sigv4_parse_presigned(q, &a, &d), 0);
    struct http_header h = {"Host", "10.0.0.1:9000"};
    struct sigv4_input in = {.method = "PUT",
                             .path = buf_cstr(&path),
                             .query = q,
                             .s3 = true,
                             .headers = &h,
                             .nheaders = 1,
                             .payload_hash = "UNSIGNED-PAYLOAD"};
    ASSERT_EQ(sigv4_verify(&in, &a, p.secret, NULL, &d), 0);
    in.method = "GET"; /* a PUT URL does not grant a GET */
    ASSERT_EQ(sigv4_verify(&in, &a, p.secret, NULL, &d), KILN_EBADSIG);
    p.expires = 0;
    ASSERT_EQ(sigv4_presign(&p, &url, &d), KILN_EINVAL);
    buf_release(&url);
    buf_release(&path);
}

/* The per-thread signing-key cache answers only for the inputs it was
 * derived from: a changed secret, date, region or service derives anew. */
static void test_signing_key_cache(void)
{
    static const char *const in[][4] = {
        {"secret-a", "20260101", "us-east-1", "sagemaker"},
        {"secret-a", "20260101", "us-east-1", "sagemaker"},
        {"secret-b", "20260101", "us-east-1", "sagemaker"},
        {"secret-b", "20260102", "us-east-1", "sagemaker"},
        {"secret-b", "20260102", "eu-west-1", "sagemaker"},
        {"secret-b", "20260102", "eu-west-1", "s3"},
        {"secret-bb", "20260102", "eu-west-1", "s3"},
        {"secret-a", "20260101", "us-east-1", "sagemaker"},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        uint8_t got[32], want[32];
        sigv4_signing_key(in[i][0], in[i][1], in[i][2], in[i][3], got);
        sigv4_derive_key(in[i][0], in[i][1], in[i][2], in[i][3], want);
        ASSERT_TRUE(memcmp(got, want, 32) == 0);
    }
}

static const struct test tests[] = {
    {"the signing-key cache follows its inputs", test_signing_key_cache},
    {"presigned URLs", test_presign},
    {"signing key", test_signing_key},
    {"published vectors", test_vectors},
    {"wrong secret fails every vector", test_wrong_secret_fails},
    {"chunked upload seed signature", test_chunked_seed},
    {"parse Authorization", test_parse_authorization},
    {"presigned query", test_presigned},
    {"time window", test_check_time},
    {"canonical URI", test_canonical_uri},
    {"canonical query", test_canonical_query},
};

HARNESS_MAIN(tests)
