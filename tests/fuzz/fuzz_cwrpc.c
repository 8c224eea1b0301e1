/*
 * fuzz_cwrpc.c - CloudWatch's JSON 1.0 and RPC v2 CBOR request bodies:
 * the first byte picks the wire and the operation, the rest is the body,
 * run against a metadata store of its own with a few endpoint metrics in
 * it (alarms it creates are evaluated too).
 */
#include <stdlib.h>
#include <string.h>

#include "api/cloudwatch.h"
#include "api/cwrpc.h"
#include "base/buf.h"
#include "fuzz.h"
#include "metrics_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ops[] = {
        "ListMetrics",         "GetMetricStatistics",     "GetMetricData",
        "PutMetricAlarm",      "DescribeAlarms",          "DeleteAlarms",
        "SetAlarmState",       "DescribeAlarmHistory",    "EnableAlarmActions",
        "DisableAlarmActions", "DescribeAlarmsForMetric", "NoSuchOperation"};
    struct api_ctx c = metrics_caller();
    struct buf out = BUF_INIT(16u << 20);
    struct kiln_diag d = {0};

    if (size == 0 || !c.meta)
        return 0;
    enum cwrpc_wire wire = data[0] & 0x80 ? CWRPC_CBOR : CWRPC_JSON;
    const char *op = ops[(data[0] & 0x7f) % (sizeof(ops) / sizeof(ops[0]))];
    cwrpc_handle(&c, wire, op, data + 1, size - 1, &out, &d);
    cloudwatch_alarms_evaluate(c.meta);
    buf_release(&out);
    return 0;
}
