/*
 * harness.h - kiln's small unit-test harness (STYLE.md K17).
 *
 * A test file defines `static void test_x(void)` functions, lists them in a
 * `static const struct test tests[]`, and ends with HARNESS_MAIN(tests).
 * Each ASSERT_* prints both values and the location on failure and ends the
 * current test. The run ends with the line "N passed, N failed" alone.
 */
#ifndef KILN_TEST_HARNESS_H
#define KILN_TEST_HARNESS_H

#include <jansson.h>
#include <math.h>

#include "base/kiln.h"
#include "base/mem.h"

struct test {
    const char *name;
    void (*fn)(void);
};

static int harness_failed_now;

#define FAIL_AT(...)                                                           \
    do {                                                                       \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        harness_failed_now = 1;                                                \
        return;                                                                \
    } while (0)

#define ASSERT_TRUE(x)                                                         \
    do {                                                                       \
        if (!(x))                                                              \
            FAIL_AT("expected true: %s", #x);                                  \
    } while (0)

#define ASSERT_EQ(a, b)                                                        \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            FAIL_AT("%s == %s: %lld != %lld", #a, #b, a_, b_);                 \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                 \
            FAIL_AT("%s == %s:\n    got      \"%s\"\n    expected \"%s\"", #a, \
                    #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");               \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                           \
    do {                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                \
        if (!h_ || !strstr(h_, n_))                                            \
            FAIL_AT("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

/* |a - b| <= tol * max(|a|, |b|) */
#define ASSERT_REL(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        double m_ = fabs(a_) > fabs(b_) ? fabs(a_) : fabs(b_);                 \
        if (fabs(a_ - b_) > (tol)*m_)                                          \
            FAIL_AT("%s ~ %s: %.9g vs %.9g (rel tol %g)", #a, #b, a_, b_,      \
                    (double)(tol));                                            \
    } while (0)

static int harness_run(const struct test *tests, size_t n)
{
    int passed = 0, failed = 0;

    json_set_alloc_funcs(xmalloc, mem_free);
    for (size_t i = 0; i < n; i++) {
        harness_failed_now = 0;
        tests[i].fn();
        if (harness_failed_now) {
            failed++;
            fprintf(stderr, "FAIL %s\n", tests[i].name);
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define HARNESS_MAIN(list)                                                     \
    int main(void)                                                             \
    {                                                                          \
        return harness_run((list), KILN_ARRAY_LEN(list));                      \
    }

#endif
