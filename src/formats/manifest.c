/*
 * manifest.c - jansson over the manifest texts.
 */
#include "formats/manifest.h"

#include <jansson.h>

#include "base/mem.h"
#include "base/str.h"

void manifest_release(struct manifest *m)
{
    for (size_t i = 0; i < m->n; i++)
        mem_free(m->entries[i]);
    mem_free(m->entries);
    mem_free(m->prefix);
    memset(m, 0, sizeof(*m));
}

static void add(struct manifest *m, const char *s)
{
    m->entries = xrealloc(m->entries, (m->n + 1) * sizeof(char *));
    m->entries[m->n++] = xstrdup(s);
}

int manifest_parse(const char *text, size_t len, struct manifest *m,
                   struct kiln_diag *d)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e), *v;
    const char *prefix;
    size_t i;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    if (!j)
        return diag_set(d, KILN_EINVAL, "the manifest is not JSON: %s", e.text);
    prefix = json_string_value(json_object_get(json_array_get(j, 0), "prefix"));
    if (!json_is_array(j) || !prefix || !str_starts(prefix, "s3://")) {
        json_decref(j);
        return diag_set(d, KILN_EINVAL,
                        "the manifest must be a JSON list starting with "
                        "{\"prefix\": \"s3://bucket/prefix/\"}");
    }
    m->prefix = xstrdup(prefix);
    json_array_foreach(j, i, v)
    {
        if (i == 0)
            continue;
        if (!json_is_string(v)) {
            rc = diag_set(d, KILN_EINVAL, "manifest entry %zu is not a string",
                          i);
            break;
        }
        add(m, json_string_value(v));
    }
    json_decref(j);
    if (rc)
        manifest_release(m);
    return rc;
}

int manifest_parse_augmented(const char *text, size_t len,
                             const char *const *attributes, struct manifest *m,
                             struct kiln_diag *d)
{
    const char *p = text, *end = text + len;
    size_t line = 0;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        json_error_t e;
        line++;
        if (stop > p && !(stop - p == 1 && *p == '\r')) {
            json_t *o = json_loadb(p, (size_t)(stop - p), 0, &e);
            if (!json_is_object(o)) {
                rc = diag_set(d, KILN_EINVAL,
                              "augmented manifest line %zu is not a JSON "
                              "object",
                              line);
            }
            for (const char *const *a = attributes; !rc && *a; a++) {
                json_t *v = json_object_get(o, *a);
                if (!v)
                    rc = diag_set(d, KILN_EINVAL,
                                  "augmented manifest line %zu has no "
                                  "attribute '%s'",
                                  line, *a);
                else if (json_is_string(v) &&
                         str_starts(json_string_value(v), "s3://"))
                    add(m, json_string_value(v));
            }
            json_decref(o);
        }
        p = nl ? nl + 1 : end;
    }
    if (rc)
        manifest_release(m);
    return rc;
}
