/*
 * validate.c - a recursive walk over the JSON value beside its shape.
 *
 * Constraint failures are appended to a message buffer and counted; only
 * the count's prefix is added at the end. Compiled patterns are cached by
 * the address of their (static) pattern string, so each is compiled once
 * for the process.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "api/validate.h"

#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>

#include "base/buf.h"
#include "base/mem.h"

#define MAX_PATTERNS 256
#define MAX_REPORTED 10

struct cached {
    const char *pattern;
    pcre2_code *code;
};

static struct cached cache[MAX_PATTERNS];
static size_t ncache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static pcre2_code *compiled(const char *pattern)
{
    pcre2_code *code = NULL;
    int err;
    PCRE2_SIZE off;

    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < ncache; i++)
        if (cache[i].pattern == pattern) {
            code = cache[i].code;
            goto out;
        }
    code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err,
                         &off, NULL);
    KILN_ASSERT(code != NULL); /* shapes are ours: a bad one is a bug */
    KILN_ASSERT(ncache < MAX_PATTERNS);
    cache[ncache].pattern = pattern;
    cache[ncache].code = code;
    ncache++;
out:
    pthread_mutex_unlock(&cache_lock);
    return code;
}

bool validate_pattern(const char *pattern, const char *value, size_t len)
{
    pcre2_code *code = compiled(pattern);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc;

    if (!md)
        return false;
    rc = pcre2_match(code, (PCRE2_SPTR)value, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

bool validate_regex(const char *regex)
{
    int err;
    PCRE2_SIZE off;
    uint32_t groups = 0;
    pcre2_code *code;

    if (!regex)
        return false;
    code = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF,
                         &err, &off, NULL);
    if (!code)
        return false;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    pcre2_code_free(code);
    return groups > 0;
}

void validate_cleanup(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < ncache; i++)
        pcre2_code_free(cache[i].code);
    ncache = 0;
    pthread_mutex_unlock(&cache_lock);
}

struct walk {
    struct buf msg;
    int count;
    struct kiln_diag *d;
};

/* The path of a member in lowerCamelCase (AWS's memberPath). */
static void path_push(struct buf *path, const char *name)
{
    if (path->len)
        buf_addc(path, '.');
    buf_addc(path,
             (char)((name[0] >= 'A' && name[0] <= 'Z') ? name[0] - 'A' + 'a'
                                                       : name[0]));
    buf_adds(path, name + 1);
}

static void fail(struct walk *w, const char *path, json_t *v, const char *fmt,
                 ...) KILN_PRINTF(4, 5);

static void fail(struct walk *w, const char *path, json_t *v, const char *fmt,
                 ...)
{
    char constraint[512];
    va_list ap;

    if (++w->count > MAX_REPORTED)
        return;
    va_start(ap, fmt);
    vsnprintf(constraint, sizeof(constraint), fmt, ap);
    va_end(ap);
    if (w->msg.len)
        buf_adds(&w->msg, "; ");
    if (!v || json_is_null(v)) {
        buf_adds(&w->msg, "Value null");
    } else if (json_is_string(v)) {
        buf_addf(&w->msg, "Value '%.256s'", json_string_value(v));
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_addf(&w->msg, "Value '%.256s'", t ? t : "?");
        mem_free(t);
    }
    buf_addf(&w->msg, " at '%s' failed to satisfy constraint: %s", path,
             constraint);
}

static const char *type_name(enum vtype t)
{
    static const char *const names[] = {
        [VT_STRING] = "String",       [VT_INTEGER] = "Integer",
        [VT_DOUBLE] = "Double",       [VT_BOOLEAN] = "Boolean",
        [VT_TIMESTAMP] = "Timestamp", [VT_STRUCTURE] = "Structure",
        [VT_LIST] = "List",           [VT_MAP] = "Map",
    };
    return names[t];
}

static int check(struct walk *w, const struct vshape *s, json_t *v,
                 struct buf *path);

static int type_error(struct walk *w, const struct vshape *s, const char *p)
{
    return diag_set(w->d, KILN_ESERIAL,
                    "Expected a %s at '%s' but found another JSON type.",
                    type_name(s->type), *p ? p : "(request)");
}

static void check_length(struct walk *w, const struct vshape *s, json_t *v,
                         const char *p, int64_t len)
{
    if ((s->flags & V_MIN) && len < s->min)
        fail(w, p, v, "Member must have length greater than or equal to %lld",
             (long long)s->min);
    if ((s->flags & V_MAX) && len > s->max)
        fail(w, p, v, "Member must have length less than or equal to %lld",
             (long long)s->max);
}

static void check_string(struct walk *w, const struct vshape *s, json_t *v,
                         const char *p)
{
    const char *str = json_string_value(v);
    size_t len = json_string_length(v);
    int64_t chars = 0;

    /* Lengths count characters (code points), not bytes. */
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)str[i] & 0xC0) != 0x80;
    check_length(w, s, v, p, chars);
    if (s->pattern && !validate_pattern(s->pattern, str, len))
        fail(w, p, v, "Member must satisfy regular expression pattern: %s",
             s->pattern);
    if (s->enums) {
        struct buf set = BUF_INIT(4096);
        bool ok = false;
        for (const char *const *e = s->enums; *e; e++) {
            ok |= strcmp(*e, str) == 0;
            buf_addf(&set, "%s%s", e == s->enums ? "" : ", ", *e);
        }
        if (!ok)
            fail(w, p, v, "Member must satisfy enum value set: [%s]",
                 buf_cstr(&set));
        buf_release(&set);
    }
}

static void check_range(struct walk *w, const struct vshape *s, json_t *v,
                        const char *p, double x)
{
    if ((s->flags & V_MIN) && x < (double)s->min)
        fail(w, p, v, "Member must have value greater than or equal to %lld",
             (long long)s->min);
    if ((s->flags & V_MAX) && x > (double)s->max)
        fail(w, p, v, "Member must have value less than or equal to %lld",
             (long long)s->max);
}

static int check_structure(struct walk *w, const struct vshape *s, json_t *v,
                           struct buf *path)
{
    size_t mark = path->len;
    int rc = 0;

    for (const struct vmember *m = s->members; m && m->name && !rc; m++) {
        json_t *mv = json_object_get(v, m->name);
        path_push(path, m->name);
        if (!mv || json_is_null(mv)) {
            if (m->required)
                fail(w, buf_cstr(path), NULL, "Member must not be null");
        } else {
            rc = check(w, m->shape, mv, path);
        }
        path->len = mark;
        if (path->data)
            path->data[mark] = '\0';
    }
    return rc;
}

static int check(struct walk *w, const struct vshape *s, json_t *v,
                 struct buf *path)
{
    const char *p = buf_cstr(path);
    size_t mark = path->len;
    int rc = 0;

    switch (s->type) {
    case VT_STRING:
        if (!json_is_string(v))
            return type_error(w, s, p);
        check_string(w, s, v, p);
        break;
    case VT_INTEGER:
        if (!json_is_integer(v))
            return type_error(w, s, p);
        check_range(w, s, v, p, (double)json_integer_value(v));
        break;
    case VT_DOUBLE:
    case VT_TIMESTAMP:
        if (!json_is_number(v))
            return type_error(w, s, p);
        if (!isfinite(json_number_value(v)))
            return type_error(w, s, p);
        check_range(w, s, v, p, json_number_value(v));
        break;
    case VT_BOOLEAN:
        if (!json_is_boolean(v))
            return type_error(w, s, p);
        break;
    case VT_STRUCTURE:
        if (!json_is_object(v))
            return type_error(w, s, p);
        return check_structure(w, s, v, path);
    case VT_LIST: {
        size_t i;
        json_t *item;
        if (!json_is_array(v))
            return type_error(w, s, p);
        check_length(w, s, v, p, (int64_t)json_array_size(v));
        json_array_foreach(v, i, item)
        {
            buf_addf(path, ".%zu.member", i + 1);
            rc = check(w, s->item, item, path);
            path->len = mark;
            path->data[mark] = '\0';
            if (rc)
                break;
        }
        break;
    }
    case VT_MAP: {
        const char *k;
        json_t *item;
        if (!json_is_object(v))
            return type_error(w, s, p);
        check_length(w, s, v, p, (int64_t)json_object_size(v));
        json_object_foreach(v, k, item)
        {
            json_t *kv = json_string(k);
            buf_addf(path, ".%s", k);
            if (s->key && kv)
                check_string(w, s->key, kv, buf_cstr(path));
            json_decref(kv);
            rc = check(w, s->item, item, path);
            path->len = mark;
            path->data[mark] = '\0';
            if (rc)
                break;
        }
        break;
    }
    }
    return rc;
}

int validate_request(const struct vshape *s, json_t *v, struct kiln_diag *d)
{
    struct walk w = {.msg = BUF_INIT(64 * 1024), .d = d};
    struct buf path = BUF_INIT(4096);
    int rc;

    rc = check(&w, s, v, &path);
    if (!rc && w.count)
        rc = diag_set(d, KILN_EVALIDATION, "%d validation error%s detected: %s",
                      w.count, w.count == 1 ? "" : "s", buf_cstr(&w.msg));
    buf_release(&w.msg);
    buf_release(&path);
    return rc;
}
