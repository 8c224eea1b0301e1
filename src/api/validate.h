/*
 * validate.h - checks an AWS JSON request against a declarative description
 * of the operation's input shape, the way the service does (api-contract.md
 * §1.1, §1.3).
 *
 * Wrong JSON types are KILN_ESERIAL (SerializationException). Constraint
 * violations - required members, lengths, ranges, patterns, enums - are all
 * collected and reported together as KILN_EVALIDATION with AWS's wording:
 * "2 validation errors detected: Value 'x' at 'modelName' failed to satisfy
 * constraint: Member must ...". Unknown members are ignored, as AWS does
 * for newer clients. Shapes are static const tables; patterns are compiled
 * once with PCRE2 and cached. Any thread.
 */
#ifndef KILN_API_VALIDATE_H
#define KILN_API_VALIDATE_H

#include <jansson.h>

#include "base/err.h"

enum vtype {
    VT_STRING,
    VT_INTEGER,
    VT_DOUBLE,
    VT_BOOLEAN,
    VT_TIMESTAMP, /* epoch seconds, integer or fraction */
    VT_STRUCTURE,
    VT_LIST,
    VT_MAP,
};

enum vflags {
    V_MIN = 1 << 0, /* min applies */
    V_MAX = 1 << 1, /* max applies */
};

struct vmember;

struct vshape {
    enum vtype type;
    unsigned flags;
    int64_t min, max;              /* length (string, list, map) or value */
    const char *pattern;           /* PCRE2, matched against the whole value */
    const char *const *enums;      /* NULL-terminated allowed values */
    const struct vmember *members; /* structure: ends with a NULL name */
    const struct vshape *item;     /* list item, or map value */
    const struct vshape *key;      /* map key */
};

struct vmember {
    const char *name; /* PascalCase member name as on the wire */
    const struct vshape *shape;
    bool required;
};

/* Validates `v` (a JSON object) against structure shape `s`. */
int validate_request(const struct vshape *s, json_t *v, struct kiln_diag *d);

/* True when the whole of `value` matches `pattern` (compiled and cached). */
bool validate_pattern(const char *pattern, const char *value, size_t len);

/* True when `regex` compiles (Perl syntax) and has a capture group. */
bool validate_regex(const char *regex);

/* Frees the compiled-pattern cache (at shutdown). */
void validate_cleanup(void);

#endif
