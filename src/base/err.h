/*
 * err.h - kiln's one error table (STYLE.md K4).
 *
 * A function that can fail returns int: 0 on success, a negative KILN_E* code
 * on failure; small positive values (KILN_CONTINUE) are results, not errors.
 * KILN_ERR_MAP is the single source of the codes, their text, and the status
 * and error name each wire protocol answers them with:
 *
 *   json    AWS JSON 1.1 (SageMaker control plane, CloudWatch Logs)
 *   s3      S3 REST-XML
 *   query   AWS Query (STS)
 *   rest    REST-JSON (SageMaker Runtime)
 *
 * Handlers never write an AWS error name by hand; they return a code and put
 * the human detail in a caller-supplied struct kiln_diag through diag_set(),
 * the one breakpoint for every error. Everything here is thread-safe.
 */
#ifndef KILN_ERR_H
#define KILN_ERR_H

#include "base/kiln.h"

/* X(name, text, json, s3, query, rest): each protocol as status, "Code". */
#define KILN_ERR_MAP(X)                                                        \
    X(NOMEM, "out of memory", 500, "InternalFailure", 500, "InternalError",    \
      500, "InternalFailure", 500, "InternalFailure")                          \
    X(INTERNAL, "internal error", 500, "InternalFailure", 500,                 \
      "InternalError", 500, "InternalFailure", 500, "InternalFailure")         \
    X(IO, "input/output error", 500, "InternalFailure", 500, "InternalError",  \
      500, "InternalFailure", 500, "InternalFailure")                          \
    X(INVAL, "invalid argument", 400, "ValidationException", 400,              \
      "InvalidArgument", 400, "InvalidParameterValue", 400, "ValidationError") \
    X(VALIDATION, "validation failed", 400, "ValidationException", 400,        \
      "InvalidArgument", 400, "ValidationError", 400, "ValidationError")       \
    X(SERIAL, "malformed request body", 400, "SerializationException", 400,    \
      "MalformedXML", 400, "MalformedInput", 400, "SerializationException")    \
    X(UNKNOWNOP, "unknown operation", 400, "UnknownOperationException", 501,   \
      "NotImplemented", 400, "InvalidAction", 404,                             \
      "UnknownOperationException")                                             \
    X(TOOBIG, "request too large", 413, "RequestEntityTooLargeException", 400, \
      "EntityTooLarge", 413, "RequestEntityTooLarge", 400, "ValidationError")  \
    X(NOAUTH, "missing authentication token", 400,                             \
      "MissingAuthenticationTokenException", 403, "AccessDenied", 403,         \
      "MissingAuthenticationToken", 403,                                       \
      "MissingAuthenticationTokenException")                                   \
    X(BADKEY, "unknown access key", 400, "UnrecognizedClientException", 403,   \
      "InvalidAccessKeyId", 403, "InvalidClientTokenId", 403,                  \
      "UnrecognizedClientException")                                           \
    X(BADSIG, "signature mismatch", 400, "InvalidSignatureException", 403,     \
      "SignatureDoesNotMatch", 403, "SignatureDoesNotMatch", 403,              \
      "InvalidSignatureException")                                             \
    X(SKEW, "request time too skewed", 400, "InvalidSignatureException", 403,  \
      "RequestTimeTooSkewed", 403, "SignatureDoesNotMatch", 403,               \
      "InvalidSignatureException")                                             \
    X(EXPIRED, "presigned request expired", 400, "InvalidSignatureException",  \
      403, "AccessDenied", 403, "SignatureDoesNotMatch", 403,                  \
      "InvalidSignatureException")                                             \
    X(AUTHFORMAT, "malformed authorization", 400,                              \
      "IncompleteSignatureException", 400, "AuthorizationHeaderMalformed",     \
      400, "IncompleteSignature", 400, "IncompleteSignatureException")         \
    X(PAYLOADHASH, "payload hash mismatch", 400, "InvalidSignatureException",  \
      400, "XAmzContentSHA256Mismatch", 403, "SignatureDoesNotMatch", 403,     \
      "InvalidSignatureException")                                             \
    X(ACCESS, "access denied", 400, "AccessDeniedException", 403,              \
      "AccessDenied", 403, "AccessDenied", 403, "AccessDeniedException")       \
    X(NOTFOUND, "resource not found", 400, "ValidationException", 404,         \
      "NoSuchKey", 400, "ValidationError", 400, "ValidationError")             \
    X(INUSE, "resource in use", 400, "ResourceInUse", 409, "OperationAborted", \
      400, "ValidationError", 400, "ValidationError")                          \
    X(CONFLICT, "conflict", 400, "ConflictException", 409, "OperationAborted", \
      400, "ValidationError", 400, "ValidationError")                          \
    X(LIMIT, "resource limit exceeded", 400, "ResourceLimitExceeded", 503,     \
      "SlowDown", 400, "LimitExceeded", 429, "ThrottlingException")            \
    X(UNAVAILABLE, "service unavailable", 503, "ServiceUnavailable", 503,      \
      "ServiceUnavailable", 503, "ServiceUnavailable", 503,                    \
      "ServiceUnavailable")                                                    \
    X(INCOMPLETE, "incomplete body", 400, "SerializationException", 400,       \
      "IncompleteBody", 400, "MalformedInput", 400, "ValidationError")         \
    X(BADDIGEST, "checksum mismatch", 400, "ValidationException", 400,         \
      "BadDigest", 400, "ValidationError", 400, "ValidationError")             \
    X(NOBUCKET, "no such bucket", 400, "ValidationException", 404,             \
      "NoSuchBucket", 400, "ValidationError", 400, "ValidationError")          \
    X(NOUPLOAD, "no such upload", 400, "ValidationException", 404,             \
      "NoSuchUpload", 400, "ValidationError", 400, "ValidationError")          \
    X(OWNED, "bucket already owned by you", 400, "ResourceInUse", 409,         \
      "BucketAlreadyOwnedByYou", 400, "ValidationError", 400,                  \
      "ValidationError")                                                       \
    X(TAKEN, "bucket name taken", 400, "ResourceInUse", 409,                   \
      "BucketAlreadyExists", 400, "ValidationError", 400, "ValidationError")   \
    X(NOTEMPTY, "bucket not empty", 400, "ResourceInUse", 409,                 \
      "BucketNotEmpty", 400, "ValidationError", 400, "ValidationError")        \
    X(BUCKETNAME, "invalid bucket name", 400, "ValidationException", 400,      \
      "InvalidBucketName", 400, "ValidationError", 400, "ValidationError")     \
    X(RANGE, "invalid range", 400, "ValidationException", 416, "InvalidRange", \
      400, "ValidationError", 400, "ValidationError")                          \
    X(PRECONDITION, "precondition failed", 400, "ValidationException", 412,    \
      "PreconditionFailed", 400, "ValidationError", 400, "ValidationError")    \
    X(NOTMODIFIED, "not modified", 400, "ValidationException", 304,            \
      "NotModified", 400, "ValidationError", 400, "ValidationError")           \
    X(BADPART, "invalid part", 400, "ValidationException", 400, "InvalidPart", \
      400, "ValidationError", 400, "ValidationError")                          \
    X(PARTORDER, "invalid part order", 400, "ValidationException", 400,        \
      "InvalidPartOrder", 400, "ValidationError", 400, "ValidationError")      \
    X(TOOSMALL, "entity too small", 400, "ValidationException", 400,           \
      "EntityTooSmall", 400, "ValidationError", 400, "ValidationError")        \
    X(KEYTOOLONG, "key too long", 400, "ValidationException", 400,             \
      "KeyTooLongError", 400, "ValidationError", 400, "ValidationError")       \
    X(BADURI, "invalid URI", 400, "ValidationException", 400, "InvalidURI",    \
      400, "ValidationError", 400, "ValidationError")                          \
    X(BADREQUEST, "invalid request", 400, "ValidationException", 400,          \
      "InvalidRequest", 400, "ValidationError", 400, "ValidationError")        \
    X(BADDIGESTFMT, "invalid digest", 400, "ValidationException", 400,         \
      "InvalidDigest", 400, "ValidationError", 400, "ValidationError")         \
    X(NORESOURCE, "resource not found", 400, "ResourceNotFoundException", 404, \
      "NoSuchKey", 400, "ValidationError", 400, "ValidationError")             \
    X(BADPARAM, "invalid parameter", 400, "InvalidParameterException", 400,    \
      "InvalidArgument", 400, "InvalidParameterValue", 400, "ValidationError") \
    X(MODELERROR, "the model answered with an error", 400,                     \
      "ValidationException", 400, "InvalidArgument", 400, "ValidationError",   \
      424, "ModelError")                                                       \
    X(DIM, "dimension mismatch", 400, "ValidationException", 400,              \
      "InvalidArgument", 400, "ValidationError", 400, "ValidationError")       \
    X(BADTAG, "invalid tag", 400, "ValidationException", 400, "InvalidTag",    \
      400, "ValidationError", 400, "ValidationError")                          \
    X(TAGLIMIT, "too many tags", 400, "ValidationException", 400,              \
      "BadRequest", 400, "ValidationError", 400, "ValidationError")            \
    X(PARTNUMBER, "invalid part number", 400, "ValidationException", 416,      \
      "InvalidPartNumber", 400, "ValidationError", 400, "ValidationError")     \
    X(NOCORS, "no CORS configuration", 400, "ValidationException", 404,        \
      "NoSuchCORSConfiguration", 400, "ValidationError", 400,                  \
      "ValidationError")                                                       \
    X(CORSDENIED, "CORS request not allowed", 400, "ValidationException", 403, \
      "AccessForbidden", 400, "ValidationError", 400, "ValidationError")       \
    X(NOOBJECT, "no such scaling object", 400, "ObjectNotFoundException", 404, \
      "NoSuchKey", 400, "ValidationError", 400, "ValidationError")             \
    X(MISSINGPARAM, "missing parameter", 400, "ValidationException", 400,      \
      "InvalidArgument", 400, "MissingParameter", 400, "ValidationError")      \
    X(BADTOKEN, "invalid next token", 400, "ValidationException", 400,         \
      "InvalidArgument", 400, "InvalidNextToken", 400, "ValidationError")      \
    X(NOJOB, "no such job", 400, "ResourceNotFound", 404, "NoSuchKey", 400,    \
      "ValidationError", 400, "ValidationError")                               \
    X(NOALARM, "no such alarm", 400, "ValidationException", 400,               \
      "InvalidArgument", 404, "ResourceNotFound", 400, "ValidationError")      \
    X(NOPOLICY, "no bucket policy", 400, "ValidationException", 404,           \
      "NoSuchBucketPolicy", 400, "ValidationError", 400, "ValidationError")    \
    X(NOLIFECYCLE, "no lifecycle configuration", 400, "ValidationException",   \
      404, "NoSuchLifecycleConfiguration", 400, "ValidationError", 400,        \
      "ValidationError")                                                       \
    X(NOENCRYPTION, "no encryption configuration", 400, "ValidationException", \
      404, "ServerSideEncryptionConfigurationNotFoundError", 400,              \
      "ValidationError", 400, "ValidationError")                               \
    X(NOTAGSET, "no tag set", 400, "ValidationException", 404, "NoSuchTagSet", \
      400, "ValidationError", 400, "ValidationError")                          \
    X(NOWEBSITE, "no website configuration", 400, "ValidationException", 404,  \
      "NoSuchWebsiteConfiguration", 400, "ValidationError", 400,               \
      "ValidationError")                                                       \
    X(NOREPLICATION, "no replication configuration", 400,                      \
      "ValidationException", 404, "ReplicationConfigurationNotFoundError",     \
      400, "ValidationError", 400, "ValidationError")                          \
    X(NOOBJECTLOCK, "no object lock configuration", 400,                       \
      "ValidationException", 404, "ObjectLockConfigurationNotFoundError", 400, \
      "ValidationError", 400, "ValidationError")                               \
    X(ACLDISABLED, "ACLs are disabled", 400, "ValidationException", 400,       \
      "AccessControlListNotSupported", 400, "ValidationError", 400,            \
      "ValidationError")                                                       \
    X(BUCKETACL, "bucket ACL with BucketOwnerEnforced", 400,                   \
      "ValidationException", 400, "InvalidBucketAclWithObjectOwnership", 400,  \
      "ValidationError", 400, "ValidationError")

/* Positions in the table; 0 is "no error". */
enum kiln_err_index {
    KILN_ERR_INDEX_NONE_ = 0,
#define KILN_ERR_INDEX(name, text, js, jc, ss, sc, qs, qc, rs, rc)             \
    KILN_ERR_INDEX_##name,
    KILN_ERR_MAP(KILN_ERR_INDEX) KILN_ERR_INDEX_COUNT_
#undef KILN_ERR_INDEX
};

/* The codes functions return: KILN_ENOMEM, KILN_EINVAL, ... all negative. */
enum kiln_err {
    KILN_OK = 0,
#define KILN_ERR_CODE(name, text, js, jc, ss, sc, qs, qc, rs, rc)              \
    KILN_E##name = -KILN_ERR_INDEX_##name,
    KILN_ERR_MAP(KILN_ERR_CODE)
#undef KILN_ERR_CODE
};

#define KILN_CONTINUE 1 /* not an error: call again */

/* Which protocol an error is answered in. */
enum kiln_proto {
    KILN_PROTO_JSON,  /* AWS JSON 1.1 */
    KILN_PROTO_S3,    /* S3 REST-XML */
    KILN_PROTO_QUERY, /* AWS Query (STS) */
    KILN_PROTO_REST,  /* REST-JSON (SageMaker Runtime) */
};

/* Human-readable detail for the error being returned. */
struct kiln_diag {
    int code;       /* a negative KILN_E* value, or 0 */
    char msg[1024]; /* NUL-terminated, may be empty */
};

/* Short text for a code ("out of memory"); "unknown error" if not one. */
const char *kiln_strerror(int code);

/*
 * The HTTP status and AWS error name `code` is answered with in `proto`.
 * Codes that are not errors map to 500 / InternalFailure.
 */
int kiln_err_status(int code, enum kiln_proto proto);
const char *kiln_err_name(int code, enum kiln_proto proto);

/*
 * Records `code` and a formatted message in `d` (which may be NULL) and
 * returns `code`, so callers can write `return diag_set(d, ...)`. In debug
 * builds it also logs file:line. Use the DIAG macro, not diag_set_at.
 */
int diag_set_at(struct kiln_diag *d, int code, const char *file, int line,
                const char *fmt, ...) KILN_PRINTF(5, 6);
#define diag_set(d, code, ...)                                                 \
    diag_set_at((d), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Puts `prefix` in front of d's message and sets `code` (a wrapping
 * context for an error from below); returns code. d may be NULL. */
int diag_wrap(struct kiln_diag *d, int code, const char *prefix);

/* Empties `d`. */
void diag_clear(struct kiln_diag *d);

#endif
