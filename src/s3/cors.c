/*
 * cors.c - matching CORS rules, and the headers they give.
 */
#include "s3/cors.h"

#include <ctype.h>
#include <strings.h>

#include "base/str.h"

static const char *const methods[] = {"GET", "PUT", "HEAD", "POST", "DELETE"};

/* Whether s matches pattern, whose one '*' (if any) stands for any run of
 * characters. */
static bool wild_match(const char *pattern, const char *s, size_t n,
                       bool nocase)
{
    const char *star = strchr(pattern, '*');
    int (*cmp)(const char *, const char *, size_t) =
        nocase ? strncasecmp : strncmp;

    if (!star)
        return strlen(pattern) == n && cmp(pattern, s, n) == 0;
    size_t head = (size_t)(star - pattern), tail = strlen(star + 1);
    return n >= head + tail && cmp(pattern, s, head) == 0 &&
           cmp(star + 1, s + n - tail, tail) == 0;
}

static bool any_matches(json_t *patterns, const char *s, size_t n, bool nocase)
{
    json_t *p;
    size_t i;
    json_array_foreach(patterns, i, p)
    {
        if (wild_match(json_string_value(p), s, n, nocase))
            return true;
    }
    return false;
}

static size_t wildcards(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '*';
    return n;
}

int cors_rules_check(json_t *rules, struct kiln_diag *d)
{
    json_t *rule, *v;
    size_t i, j;

    json_array_foreach(rules, i, rule)
    {
        json_array_foreach(json_object_get(rule, "AllowedMethods"), j, v)
        {
            bool known = false;
            for (size_t k = 0; k < KILN_ARRAY_LEN(methods); k++)
                known |= strcmp(json_string_value(v), methods[k]) == 0;
            if (!known)
                return diag_set(d, KILN_EBADREQUEST,
                                "Found unsupported HTTP method in CORS "
                                "config. Unsupported method is %.64s",
                                json_string_value(v));
        }
        static const char *const wild[][2] = {
            {"AllowedOrigins", "AllowedOrigin"},
            {"AllowedHeaders", "AllowedHeader"},
        };
        for (size_t k = 0; k < KILN_ARRAY_LEN(wild); k++)
            json_array_foreach(json_object_get(rule, wild[k][0]), j, v)
            {
                if (wildcards(json_string_value(v)) > 1)
                    return diag_set(d, KILN_EBADREQUEST,
                                    "%s \"%.200s\" can not have more than "
                                    "one wildcard.",
                                    wild[k][1], json_string_value(v));
            }
        const char *age =
            json_string_value(json_object_get(rule, "MaxAgeSeconds"));
        if (age && (!*age || strspn(age, "0123456789") != strlen(age) ||
                    strlen(age) > 9))
            return diag_set(d, KILN_ESERIAL,
                            "The XML you provided was not well-formed or did "
                            "not validate against our published schema");
    }
    return 0;
}

json_t *cors_match(json_t *rules, const char *origin, const char *method,
                   const char *headers)
{
    json_t *rule;
    size_t i;

    json_array_foreach(rules, i, rule)
    {
        if (!any_matches(json_object_get(rule, "AllowedOrigins"), origin,
                         strlen(origin), false) ||
            !any_matches(json_object_get(rule, "AllowedMethods"), method,
                         strlen(method), false))
            continue;
        bool all = true;
        for (const char *h = headers; all && h && *h;) {
            while (*h == ' ' || *h == ',' || *h == '\t')
                h++;
            size_t n = strcspn(h, ",");
            size_t m = n;
            while (m && isspace((unsigned char)h[m - 1]))
                m--;
            if (m)
                all = any_matches(json_object_get(rule, "AllowedHeaders"), h, m,
                                  true);
            h += n;
        }
        if (all)
            return rule;
    }
    return NULL;
}

/* Joins a rule's list with ", ". */
static void joined(json_t *list, struct buf *out)
{
    json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
    {
        if (i)
            buf_adds(out, ", ");
        buf_adds(out, json_string_value(v));
    }
}

void cors_headers(struct http_request *r, json_t *rule, const char *origin,
                  bool preflight, const char *headers)
{
    struct buf b = BUF_INIT(16 * 1024);
    bool any_origin = false;
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(rule, "AllowedOrigins"), i, v)
    {
        any_origin |= strcmp(json_string_value(v), "*") == 0;
    }
    /* A rule for every origin answers "*", as S3 does; one naming it
     * echoes the origin and allows credentials. */
    http_response_header(r, "Access-Control-Allow-Origin",
                         any_origin ? "*" : origin);
    if (!any_origin)
        http_response_header(r, "Access-Control-Allow-Credentials", "true");
    joined(json_object_get(rule, "AllowedMethods"), &b);
    http_response_header(r, "Access-Control-Allow-Methods", buf_cstr(&b));
    if (json_array_size(json_object_get(rule, "ExposeHeaders"))) {
        buf_reset(&b);
        joined(json_object_get(rule, "ExposeHeaders"), &b);
        http_response_header(r, "Access-Control-Expose-Headers", buf_cstr(&b));
    }
    const char *age = json_string_value(json_object_get(rule, "MaxAgeSeconds"));
    if (age)
        http_response_header(r, "Access-Control-Max-Age", age);
    if (preflight && headers && *headers)
        http_response_header(r, "Access-Control-Allow-Headers", headers);
    http_response_header(r, "Vary",
                         "Origin, Access-Control-Request-Headers, "
                         "Access-Control-Request-Method");
    buf_release(&b);
}
