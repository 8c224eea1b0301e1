/*
 * fuzz_query.c - the AWS Query protocol requests kiln answers: STS's and
 * CloudWatch's form parameters (ISO 8601 times, member lists), run against
 * a metadata store of its own with a few endpoint metrics in it; the
 * alarms they leave there are evaluated each time.
 */
#include <stdlib.h>
#include <string.h>

#include "api/cloudwatch.h"
#include "api/sts.h"
#include "base/buf.h"
#include "fuzz.h"
#include "metrics_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_ctx c = metrics_caller();
    struct buf out = BUF_INIT(16u << 20);
    struct kiln_diag d = {0};
    char *text = malloc(size + 1);
    double t;

    if (!text || !c.meta) {
        free(text);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    tm_parse_iso(text, &t);
    cloudwatch_handle(&c, text, size, &out, &d);
    cloudwatch_alarms_evaluate(c.meta); /* whatever alarm it left */
    buf_reset(&out);
    sts_handle(&c, text, size, &out, &d);
    buf_release(&out);
    free(text);
    return 0;
}
