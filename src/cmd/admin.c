/*
 * admin.c - `kiln admin`: access keys and configuration, scriptable.
 *
 *   kiln admin keys add [--access-key-id ID --secret-access-key S]
 *                       [--account ACCT] [--user NAME]
 *   kiln admin keys list [--show-secrets]
 *   kiln admin keys remove ID
 *   kiln admin config show | doc
 *   kiln admin api-coverage
 *
 * All take the server's options (--data-dir, --config, ...). Keys written
 * here are seen by a running server at once: it looks keys up per request.
 */
#include "cmd/cmd.h"

#include <time.h>

#include "api/dispatch.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/strv.h"
#include "jobs/image.h"
#include "meta/meta.h"
#include "s3/s3.h"

struct keys_opts {
    const char *akid, *secret, *account, *user;
    bool show_secrets;
};

static bool valid_chars(const char *s, const char *extra, size_t min,
                        size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++) {
        bool ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= '0' && *s <= '9') || strchr(extra, *s);
        if (!ok)
            return false;
    }
    return true;
}

static int print_key(void *ctx, const struct meta_key *k)
{
    const struct keys_opts *o = ctx;
    printf("%s\t%s\t%s", k->akid, k->account, k->user);
    if (o->show_secrets)
        printf("\t%s", k->secret);
    printf("\n");
    return 0;
}

static int keys(const struct kiln_config *c, int argc, char **argv)
{
    struct keys_opts o = {.account = c->account_id, .user = "admin"};
    struct kiln_diag d = {0};
    struct meta *m = NULL;
    const char *verb = argc > 0 ? argv[0] : "list";
    const char *target = NULL;
    int rc, status = 1;

    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--access-key-id") == 0)
            slot = &o.akid;
        else if (strcmp(argv[i], "--secret-access-key") == 0)
            slot = &o.secret;
        else if (strcmp(argv[i], "--account") == 0)
            slot = &o.account;
        else if (strcmp(argv[i], "--user") == 0)
            slot = &o.user;
        else if (strcmp(argv[i], "--show-secrets") == 0)
            o.show_secrets = true;
        else if (argv[i][0] != '-' && !target)
            target = argv[i];
        else {
            fprintf(stderr, "kiln admin keys: unknown argument '%s'\n",
                    argv[i]);
            return 2;
        }
        if (slot) {
            if (++i == argc) {
                fprintf(stderr, "kiln admin keys: %s needs a value\n",
                        argv[i - 1]);
                return 2;
            }
            *slot = argv[i];
        }
    }
    rc = cmd_open_data_dir(c, &m, &d);
    if (rc) {
        fprintf(stderr, "kiln admin keys: %s\n", d.msg);
        return 1;
    }
    if (strcmp(verb, "list") == 0) {
        rc = meta_key_each(m, print_key, &o);
        status = rc ? 1 : 0;
    } else if (strcmp(verb, "add") == 0) {
        struct meta_key k;
        cmd_new_key(o.account, o.user, &k);
        if (o.akid)
            str_copy(k.akid, o.akid, sizeof(k.akid));
        if (o.secret)
            str_copy(k.secret, o.secret, sizeof(k.secret));
        if (!valid_chars(k.akid, "", 16, 128)) {
            fprintf(stderr, "kiln admin keys add: an access key id is 16 to "
                            "128 letters and digits\n");
        } else if (!valid_chars(k.secret, "+/=", 16, 128)) {
            fprintf(stderr, "kiln admin keys add: a secret is 16 to 128 "
                            "letters, digits, '+', '/' or '='\n");
        } else if (!valid_chars(k.account, "", 12, 12) ||
                   strspn(k.account, "0123456789") != 12) {
            fprintf(stderr, "kiln admin keys add: --account must be 12 "
                            "digits\n");
        } else if (!valid_chars(k.user, "+=,.@_-", 1, 64)) {
            fprintf(stderr, "kiln admin keys add: --user must be 1 to 64 "
                            "characters of [A-Za-z0-9+=,.@_-]\n");
        } else if ((rc = meta_key_add(m, &k, &d)) != 0) {
            fprintf(stderr, "kiln admin keys add: %s\n", d.msg);
        } else {
            printf("%s\t%s\t%s\t%s\n", k.akid, k.account, k.user, k.secret);
            status = 0;
        }
        memset(&k, 0, sizeof(k));
    } else if (strcmp(verb, "remove") == 0 && target) {
        rc = meta_key_remove(m, target);
        if (rc)
            fprintf(stderr, "kiln admin keys remove: no key '%s'\n", target);
        status = rc ? 1 : 0;
    } else {
        fprintf(stderr, "usage: kiln admin keys add|list|remove ...\n");
        status = 2;
    }
    meta_close(m);
    return status;
}

/* kiln admin images load FILE [--tag REF]... | list | remove REF */
static int images(const struct kiln_config *c, int argc, char **argv)
{
    const char *verb = argc > 0 ? argv[0] : "list";
    struct strv tags = STRV_INIT, out = STRV_INIT;
    struct kiln_diag d = {0};
    const char *target = NULL;
    int rc = 0;

    for (int i = 1; i < argc && !rc; i++) {
        if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc)
            strv_add(&tags, argv[++i]);
        else if (argv[i][0] != '-' && !target)
            target = argv[i];
        else
            rc = diag_set(&d, KILN_EINVAL, "unknown argument '%s'", argv[i]);
    }
    if (rc) {
        /* the message says which argument */
    } else if (strcmp(verb, "load") == 0 && target) {
        rc = image_load(c->data_dir, target, strv_argv(&tags), &out, &d);
    } else if (strcmp(verb, "list") == 0) {
        rc = image_list(c->data_dir, &out, &d);
    } else if (strcmp(verb, "remove") == 0 && target) {
        rc = image_remove(c->data_dir, target, &d);
    } else {
        rc = diag_set(&d, KILN_EINVAL,
                      "usage: kiln admin images load FILE [--tag REF]... | "
                      "list | remove REF");
    }
    for (size_t i = 0; i < out.n; i++)
        printf("%s\n", out.items[i]);
    if (rc)
        fprintf(stderr, "kiln admin images: %s\n", d.msg);
    strv_release(&tags);
    strv_release(&out);
    return rc ? (rc == KILN_EINVAL && !target ? 2 : 1) : 0;
}

static int config_cmd(const struct kiln_config *c, int argc, char **argv)
{
    struct buf out = BUF_INIT(1 << 20);
    const char *verb = argc > 0 ? argv[0] : "show";
    int status = 0;

    if (strcmp(verb, "show") == 0) {
        config_show(c, &out);
    } else if (strcmp(verb, "doc") == 0) {
        config_doc(&out);
    } else {
        fprintf(stderr, "usage: kiln admin config show|doc\n");
        status = 2;
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    buf_release(&out);
    return status;
}

static void op_row(void *ctx, const struct api_op *op)
{
    struct buf *out = ctx;
    const char *dot = strchr(op->target, '.');
    buf_addf(out, "| %s | %s | %zu KiB |\n", op->service,
             dot ? dot + 1 : op->target, op->body_max / 1024);
}

static void s3_row(void *ctx, const char *name)
{
    buf_addf(ctx, "- %s\n", name);
}

/* docs/api-coverage.md, generated from the dispatch tables. */
static int api_doc(void)
{
    struct buf out = BUF_INIT(1 << 20);

    buf_adds(&out,
             "# API coverage\n\n"
             "Generated by `kiln admin api-coverage` from kiln's dispatch "
             "tables; a test fails when this file is stale. Any operation "
             "not listed answers the error AWS gives for an unknown "
             "operation (`UnknownOperationException` for JSON services, "
             "`InvalidAction` for STS, `NotImplemented` for S3).\n\n"
             "## AWS JSON 1.1 (SageMaker, CloudWatch Logs, Application Auto "
             "Scaling, Cost Explorer)\n\n"
             "Processing jobs run kiln's built-in processing image, Model "
             "Monitor's analyzer (`sagemaker-model-monitor-analyzer`: "
             "data-quality baselines and constraint violations, "
             "`docs/monitoring.md`); other images are refused. Monitoring "
             "schedules run it on an endpoint's captures (data quality; "
             "NOW, hourly, daily and every-N-hours expressions), with a "
             "MonitoringJobDefinition of their own or the data quality job "
             "definition they name, as the SageMaker Python SDK's "
             "DefaultModelMonitor creates them. Rolling updates "
             "(RollingUpdatePolicy) replace a one-variant endpoint's "
             "instances batch by batch.\n\n"
             "Cost Explorer (`ce`) reports the instance-hours of training "
             "jobs, processing jobs, transform jobs and endpoints (metered "
             "by the minute; "
             "serverless variants are not metered), priced with "
             "`--price-list`; dimensions SERVICE, USAGE_TYPE, INSTANCE_TYPE, "
             "REGION, OPERATION and, with resources, RESOURCE_ID; tags; "
             "filters of Dimensions, Tags, And, Or and Not.\n\n"
             "| signing service | operation | request body limit |\n"
             "| --- | --- | --- |\n");
    api_op_each(op_row, &out);
    buf_adds(&out,
             "\n## STS (Query)\n\n- GetCallerIdentity\n\n"
             "## CloudWatch (Query, AWS JSON 1.0, Smithy RPC v2 CBOR)\n\n"
             "Query as older SDKs and the aws CLI v1 send it; JSON 1.0 "
             "(`X-Amz-Target: GraniteServiceVersion20100801.<Operation>`) "
             "as the JavaScript SDK v3 and newer botocore send it; CBOR "
             "(`/service/GraniteServiceVersion20100801/operation/"
             "<Operation>`); errors carry Query's codes in "
             "`x-amzn-query-error`. "
             "The AWS/SageMaker endpoint metrics (Invocations, "
             "Invocation4XXErrors, Invocation5XXErrors, "
             "InvocationsPerInstance, ModelLatency, OverheadLatency; "
             "dimensions EndpointName and VariantName), kept by the minute.\n\n"
             "- ListMetrics\n- GetMetricStatistics\n"
             "- GetMetricData: MetricStat queries (SampleCount, Average, "
             "Sum, Minimum, Maximum) paged by MaxDatapoints and NextToken; "
             "no metric math (Expression).\n"
             "- PutMetricAlarm: static thresholds on one metric, "
             "DatapointsToAlarm and TreatMissingData; evaluated every 5 s "
             "over the last EvaluationPeriods periods, the current one "
             "included; no actions (SNS), metric math or anomaly "
             "detection. UpdateEndpoint's AutoRollbackConfiguration rolls "
             "back on them.\n"
             "- DescribeAlarms\n- DescribeAlarmsForMetric\n- DeleteAlarms\n"
             "- SetAlarmState\n- EnableAlarmActions\n- DisableAlarmActions\n"
             "- DescribeAlarmHistory: the last 100 configuration and state "
             "changes of each alarm, gone with the alarm.\n\n"
             "## SageMaker Runtime (REST-JSON)\n\n"
             "- InvokeEndpoint: routed by variant weight, or to "
             "`TargetVariant`, to the endpoint's model servers; 6 MB "
             "request limit.\n"
             "- InvokeEndpointWithResponseStream: the same routing, the "
             "answer as `PayloadPart` events (application/vnd.amazon."
             "eventstream) of at most 64 KiB; kiln's model servers answer "
             "whole, so the parts come at once.\n"
             "- InvokeEndpointAsync: for endpoints with an "
             "AsyncInferenceConfig; a durable queue, input read from and "
             "results written to kiln's object store (up to 1 GB), "
             "`RequestTTLSeconds` and `InvocationTimeoutSeconds` honoured; "
             "no SNS notifications.\n\n"
             "## S3 (REST-XML)\n\n"
             "Path-style and virtual-hosted-style addressing; SigV4 in the "
             "header, presigned SigV4 and SigV2 query strings; `aws-chunked` "
             "bodies, signed or with an unsigned trailer; `Content-MD5` and "
             "`x-amz-checksum-crc32`, `-crc32c`, `-sha1`, `-sha256` "
             "verified and returned; multipart uploads created with a "
             "checksum algorithm get S3's COMPOSITE object checksum, or "
             "FULL_OBJECT for the CRCs; object tags (S3's 10 per object) "
             "set with `x-amz-tagging` on PutObject, CopyObject and "
             "CreateMultipartUpload, carried or replaced by CopyObject's "
             "`x-amz-tagging-directive`, counted in GetObject's "
             "`x-amz-tagging-count`; GetObject and HeadObject by "
             "`partNumber`. Buckets are unversioned, as in S3 before "
             "versioning is turned on: GetBucketVersioning has no Status, "
             "ListObjectVersions lists each key's one version, `null`, "
             "and `versionId=null` names it. ACLs are disabled, as with "
             "S3's default Object Ownership, BucketOwnerEnforced: they "
             "read as the owner's FULL_CONTROL, and a PutBucketAcl, "
             "PutObjectAcl, `x-amz-acl` or `x-amz-grant-*` giving anyone "
             "else anything gets AccessControlListNotSupported. Bucket "
             "settings kiln does not keep (policy, lifecycle, encryption, "
             "tags, website, replication, Object Lock, logging, request "
             "payment, acceleration, notifications, public access block, "
             "ownership controls) read as S3 answers for a bucket where "
             "they were never set, nothing public. Setting them, and "
             "other sub-resources (PutBucketVersioning, ...), answer "
             "`NotImplemented`, but for PutBucketOwnershipControls and "
             "PutPublicAccessBlock asking for what every bucket already "
             "is (BucketOwnerEnforced; all four blocks on).\n\n");
    s3_op_each(s3_row, &out);
    fwrite(out.data, 1, out.len, stdout);
    buf_release(&out);
    return 0;
}

int cmd_admin(int argc, char **argv)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    int rest[256], nrest = 0, status = 2;
    char *args[256];

    config_init(&c);
    if (argc > (int)KILN_ARRAY_LEN(rest)) {
        fprintf(stderr, "kiln admin: too many arguments\n");
        goto out;
    }
    if (config_load(&c, argc, argv, rest, &nrest, &d) != 0) {
        fprintf(stderr, "kiln admin: %s\n", d.msg);
        goto out;
    }
    for (int i = 0; i < nrest; i++)
        args[i] = argv[rest[i]];
    if (nrest >= 1 && strcmp(args[0], "keys") == 0)
        status = keys(&c, nrest - 1, args + 1);
    else if (nrest >= 1 && strcmp(args[0], "convert") == 0)
        status = cmd_convert(nrest - 1, args + 1);
    else if (nrest >= 1 && strcmp(args[0], "api-coverage") == 0)
        status = api_doc();
    else if (nrest >= 1 && strcmp(args[0], "config") == 0)
        status = config_cmd(&c, nrest - 1, args + 1);
    else if (nrest >= 1 && strcmp(args[0], "images") == 0)
        status = images(&c, nrest - 1, args + 1);
    else
        fprintf(stderr, "usage: kiln admin "
                        "keys|config|convert|api-coverage|images ...\n");
out:
    config_release(&c);
    return status;
}
