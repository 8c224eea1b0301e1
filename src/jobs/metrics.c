/*
 * metrics.c - compiled PCRE2 patterns and a float parse of the capture.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "jobs/metrics.h"

#include <math.h>
#include <pcre2.h>

#include "base/mem.h"

struct metric_def {
    char *name;
    pcre2_code *re;
};

struct metric_set {
    struct metric_def *defs;
    size_t n;
};

struct metric_set *metric_set_new(void)
{
    return xcalloc(1, sizeof(struct metric_set));
}

void metric_set_free(struct metric_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        mem_free(s->defs[i].name);
        pcre2_code_free(s->defs[i].re);
    }
    mem_free(s->defs);
    mem_free(s);
}

int metric_set_add(struct metric_set *s, const char *name, const char *regex,
                   struct kiln_diag *d)
{
    int err;
    PCRE2_SIZE off;
    uint32_t groups = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return diag_set(d, KILN_EINVAL,
                        "the regex of metric '%.64s' is invalid at offset "
                        "%zu: %s",
                        name, (size_t)off, (const char *)msg);
    }
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
    if (groups == 0) {
        pcre2_code_free(re);
        return diag_set(d, KILN_EINVAL,
                        "the regex of metric '%.64s' has no capture group",
                        name);
    }
    s->defs = xrealloc(s->defs, (s->n + 1) * sizeof(*s->defs));
    s->defs[s->n].name = xstrdup(name);
    s->defs[s->n].re = re;
    s->n++;
    return 0;
}

void metric_set_match(const struct metric_set *s, const char *line, size_t len,
                      metric_fn fn, void *ctx)
{
    for (size_t i = 0; i < s->n; i++) {
        pcre2_match_data *md =
            pcre2_match_data_create_from_pattern(s->defs[i].re, NULL);
        if (!md)
            continue;
        if (pcre2_match(s->defs[i].re, (PCRE2_SPTR)line, len, 0, 0, md, NULL) >=
            2) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            char num[64];
            size_t n = ov[3] - ov[2];
            if (ov[2] != PCRE2_UNSET && n > 0 && n < sizeof(num)) {
                memcpy(num, line + ov[2], n);
                num[n] = '\0';
                char *end;
                double v = strtod(num, &end);
                if (end != num && *end == '\0' && isfinite(v))
                    fn(ctx, s->defs[i].name, v);
            }
        }
        pcre2_match_data_free(md);
    }
}
