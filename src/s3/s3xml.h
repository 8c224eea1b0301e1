/*
 * s3xml.h - the S3 request bodies kiln parses, with libxml2 (never by
 * hand): DeleteObjects' <Delete>, CompleteMultipartUpload's
 * <CompleteMultipartUpload>, PutObjectTagging's <Tagging>,
 * PutBucketCors' <CORSConfiguration>, PutBucketAcl's and PutObjectAcl's
 * <AccessControlPolicy>, and the settings kiln keeps fixed
 * (PutBucketOwnershipControls, PutPublicAccessBlock). Namespaces are
 * ignored, as S3 does. Network access and entity expansion are off. Results are
 * owned by the caller and freed with the matching _free. Any thread.
 *
 * Errors: KILN_ESERIAL (MalformedXML) with a message in the diag.
 */
#ifndef KILN_S3_S3XML_H
#define KILN_S3_S3XML_H

#include <jansson.h>

#include "base/err.h"

#define S3XML_MAX_KEYS       1000  /* DeleteObjects limit */
#define S3XML_MAX_PARTS      10000 /* multipart limit */
#define S3XML_MAX_TAGS       1000  /* far past S3's 10, which s3.c enforces */
#define S3XML_MAX_CORS_RULES 100   /* S3's limit */

struct s3xml_delete {
    char **keys;
    size_t nkeys;
    bool quiet;
};

struct s3xml_part {
    int number;
    char etag[80];        /* without quotes */
    char checksum_alg[8]; /* "crc32", "crc32c", "sha1", "sha256" or "" */
    char checksum[80];    /* its Checksum<ALG> element, base64 */
};

struct s3xml_complete {
    struct s3xml_part *parts;
    size_t nparts;
};

int s3xml_parse_delete(const char *body, size_t len, struct s3xml_delete *out,
                       struct kiln_diag *d);
void s3xml_delete_free(struct s3xml_delete *x);

int s3xml_parse_complete(const char *body, size_t len,
                         struct s3xml_complete *out, struct kiln_diag *d);
void s3xml_complete_free(struct s3xml_complete *x);

struct s3xml_tag {
    char *key;
    char *value;
};

struct s3xml_tagging {
    struct s3xml_tag *tags;
    size_t ntags;
};

/* <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>; every
 * Tag needs both. The tags are returned as sent, unchecked. */
int s3xml_parse_tagging(const char *body, size_t len, struct s3xml_tagging *out,
                        struct kiln_diag *d);
void s3xml_tagging_free(struct s3xml_tagging *x);

/* <CORSConfiguration><CORSRule>... as a JSON array of rules, each an
 * object with ID, AllowedHeaders, AllowedMethods, AllowedOrigins,
 * ExposeHeaders (arrays of strings) and MaxAgeSeconds, as sent (cors.c
 * checks the values). At least one rule, at most 100, each with an
 * origin and a method. *rules is owned by the caller (json_decref). */

int s3xml_parse_cors(const char *body, size_t len, json_t **rules,
                     struct kiln_diag *d);

/* Whether an <AccessControlPolicy> (PutBucketAcl's, PutObjectAcl's body)
 * grants FULL_CONTROL to canonical user `owner` and nothing to anyone
 * else: 0 with *owner_only set, or KILN_ESERIAL. */
int s3xml_parse_acl(const char *body, size_t len, const char *owner,
                    bool *owner_only, struct kiln_diag *d);

/* The text elements under a <root> element, at any depth, as a JSON
 * object of element name -> array of their texts, in order (non-UTF-8
 * texts left out): for the small settings bodies, such as
 * <OwnershipControls> and <PublicAccessBlockConfiguration>. */
int s3xml_parse_leaves(const char *body, size_t len, const char *root,
                       json_t **leaves, struct kiln_diag *d);

/* The LocationConstraint of a CreateBucketConfiguration ("" if none). */
int s3xml_parse_location(const char *body, size_t len, char *out, size_t size,
                         struct kiln_diag *d);

#endif
