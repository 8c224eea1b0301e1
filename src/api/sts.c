/*
 * sts.c - parses Action/Version from the form parameters and renders the
 * GetCallerIdentity result.
 */
#include "api/sts.h"

#include "api/query.h"
#include "base/str.h"

int sts_handle(const struct api_ctx *c, const char *params, size_t len,
               struct buf *out, struct kiln_diag *d)
{
    struct buf action = BUF_INIT(256), version = BUF_INIT(256);
    int rc = 0;

    if (!query_param(params, len, "Action", &action)) {
        rc = diag_set(d, KILN_EUNKNOWNOP, "Missing Action parameter.");
        goto out;
    }
    query_param(params, len, "Version", &version);
    if (strcmp(buf_cstr(&action), "GetCallerIdentity") != 0) {
        rc = diag_set(d, KILN_EUNKNOWNOP,
                      "Could not find operation %.64s for version %.32s",
                      buf_cstr(&action),
                      version.len ? buf_cstr(&version) : "NO_VERSION");
        goto out;
    }
    rc = buf_addf(out,
                  "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws."
                  "com/doc/2011-06-15/\">\n"
                  "  <GetCallerIdentityResult>\n"
                  "    <Arn>arn:aws:iam::%s:user/%s</Arn>\n"
                  "    <UserId>AIDA%s</UserId>\n"
                  "    <Account>%s</Account>\n"
                  "  </GetCallerIdentityResult>\n"
                  "  <ResponseMetadata>\n"
                  "    <RequestId>%s</RequestId>\n"
                  "  </ResponseMetadata>\n"
                  "</GetCallerIdentityResponse>\n",
                  c->account, c->user,
                  str_starts(c->akid, "AKIA") ? c->akid + 4 : c->akid,
                  c->account, c->request_id);
out:
    buf_release(&action);
    buf_release(&version);
    return rc;
}
