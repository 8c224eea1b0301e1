/*
 * fuzz_s3xml.c - the S3 XML request bodies: DeleteObjects,
 * CompleteMultipartUpload, PutObjectTagging, CreateBucketConfiguration,
 * PutBucketCors, PutBucketAcl/PutObjectAcl and the fixed settings
 * (PutBucketOwnershipControls).
 */
#include <jansson.h>

#include "fuzz.h"
#include "s3/s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_diag d = {0};
    struct s3xml_delete del;
    struct s3xml_complete c;
    struct s3xml_tagging t;
    char loc[64];
    json_t *cors;
    bool owner_only;

    if (s3xml_parse_delete((const char *)data, size, &del, &d) == 0)
        s3xml_delete_free(&del);
    if (s3xml_parse_complete((const char *)data, size, &c, &d) == 0)
        s3xml_complete_free(&c);
    if (s3xml_parse_tagging((const char *)data, size, &t, &d) == 0)
        s3xml_tagging_free(&t);
    s3xml_parse_location((const char *)data, size, loc, sizeof(loc), &d);
    if (s3xml_parse_cors((const char *)data, size, &cors, &d) == 0)
        json_decref(cors);
    s3xml_parse_acl((const char *)data, size, "111122223333", &owner_only, &d);
    if (s3xml_parse_leaves((const char *)data, size, "OwnershipControls", &cors,
                           &d) == 0)
        json_decref(cors);
    return 0;
}
