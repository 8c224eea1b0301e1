/*
 * test_objstore.c - where multipart parts land (objstore_part_open), and
 * the waits and hand-offs between part writers and a completion.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "base/str.h"
#include "harness.h"
#include "s3/cors.h"
#include "s3/objstore.h"

#define MIB5 OBJSTORE_MIN_STRIDE

struct fixture {
    char dir[64];
    struct meta *m;
    struct objstore *s;
};

static int fixture_open(struct fixture *f)
{
    struct kiln_diag d = {0};
    char db[128];

    log_set_level(LOG_WARN);
    snprintf(f->dir, sizeof(f->dir), "/tmp/kiln-objstore-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(db, sizeof(db), "%s/kiln.db", f->dir);
    if (meta_open(db, &f->m, &d) != 0)
        return -1;
    return objstore_open(f->dir, f->m, &f->s, &d);
}

static void fixture_close(struct fixture *f)
{
    char cmd[128];
    objstore_close(f->s);
    meta_close(f->m);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
}

/* The size of blob `id`'s file, or -1 when there is none. */
static long long blob_size(struct fixture *f, const char *id)
{
    struct buf p = BUF_INIT(256);
    struct stat st;
    long long n;

    objstore_blob_path(f->s, id, &p);
    n = stat(buf_cstr(&p), &st) == 0 ? (long long)st.st_size : -1;
    buf_release(&p);
    return n;
}

/* Opens part n of `upload` declaring `size`, writes `size` bytes of c. */
static int put_part(struct fixture *f, const char *upload, int n, uint64_t size,
                    char c, struct objstore_writer *w)
{
    struct kiln_diag d = {0};
    char *b = xmalloc(size ? size : 1);
    int rc;

    memset(b, c, size);
    rc = objstore_part_open(f->s, upload, n, size, 0, w, &d);
    if (!rc)
        rc = objstore_writer_write(w, b, size, &d);
    mem_free(b);
    return rc;
}

static void test_parts_land_at_their_strides(void)
{
    struct fixture f;
    struct objstore_writer w1, w2, w3, again;
    struct kiln_diag d = {0};

    ASSERT_EQ(fixture_open(&f), 0);
    /* Part 2 comes first and sets the stride; 1 and the short 3 follow. */
    ASSERT_EQ(put_part(&f, "u", 2, MIB5, 'b', &w2), 0);
    ASSERT_EQ(put_part(&f, "u", 1, MIB5, 'a', &w1), 0);
    ASSERT_EQ(put_part(&f, "u", 3, 10, 'c', &w3), 0);
    ASSERT_TRUE(w1.as && w2.as && w3.as);
    ASSERT_STR_EQ(w1.id, w2.id);
    ASSERT_STR_EQ(w1.id, w3.id);
    ASSERT_EQ(w2.base, MIB5);
    ASSERT_EQ(w3.base, 2 * MIB5);
    /* Part 1's range is taken while its writer is in flight. */
    ASSERT_EQ(put_part(&f, "u", 1, MIB5, 'x', &again), 0);
    ASSERT_TRUE(again.as == NULL && strcmp(again.id, w1.id) != 0);
    objstore_writer_abort(f.s, &again);
    ASSERT_EQ(objstore_writer_commit(f.s, &w1, &d), 0);
    ASSERT_EQ(objstore_writer_commit(f.s, &w2, &d), 0);
    ASSERT_EQ(objstore_writer_commit(f.s, &w3, &d), 0);
    objstore_writer_settle(f.s, &w1, true, NULL);
    objstore_writer_settle(f.s, &w2, true, NULL);
    objstore_writer_settle(f.s, &w3, false, NULL); /* its row failed */
    ASSERT_EQ(blob_size(&f, w1.id), 2 * MIB5 + 10);
    /* A settled, kept part keeps its range; a dropped one frees it. */
    ASSERT_EQ(put_part(&f, "u", 1, MIB5, 'y', &again), 0);
    ASSERT_TRUE(again.as == NULL);
    objstore_writer_abort(f.s, &again);
    ASSERT_EQ(put_part(&f, "u", 3, 7, 'z', &again), 0);
    ASSERT_TRUE(again.as != NULL && again.base == 2 * MIB5);
    objstore_writer_abort(f.s, &again);
    /* Sealing cuts off what lies past the object; never lengthens it. */
    ASSERT_EQ(objstore_blob_seal(f.s, w1.id, 2 * MIB5, &d), 0);
    ASSERT_EQ(blob_size(&f, w1.id), 2 * MIB5);
    ASSERT_EQ(objstore_blob_seal(f.s, w1.id, 2 * MIB5 + 1, &d), KILN_EIO);
    objstore_upload_end(f.s, "u", w1.id);
    ASSERT_EQ(blob_size(&f, w1.id), 2 * MIB5); /* kept: it is the object */
    fixture_close(&f);
}

static void test_parts_that_do_not_fit_get_their_own_blob(void)
{
    struct fixture f;
    struct objstore_writer w;
    struct kiln_diag d = {0};
    char assembly[META_BLOB_ID];

    ASSERT_EQ(fixture_open(&f), 0);
    /* Small and of unknown size: no stride yet, so a blob of its own. */
    ASSERT_EQ(put_part(&f, "v", 3, 10, 'a', &w), 0);
    ASSERT_TRUE(w.as == NULL);
    objstore_writer_abort(f.s, &w);
    ASSERT_EQ(objstore_part_open(f.s, "v", 1, 0, 0, &w, &d), 0);
    ASSERT_TRUE(w.as == NULL);
    objstore_writer_abort(f.s, &w);
    ASSERT_EQ(put_part(&f, "v", 1, MIB5 + 4096, 'a', &w), 0);
    ASSERT_TRUE(w.as != NULL);
    str_copy(assembly, w.id, sizeof(assembly));
    objstore_writer_abort(f.s, &w);
    /* Longer than the stride, or past S3's largest object. */
    ASSERT_EQ(objstore_part_open(f.s, "v", 2, MIB5 + 4097, 0, &w, &d), 0);
    ASSERT_TRUE(w.as == NULL);
    objstore_writer_abort(f.s, &w);
    ASSERT_EQ(objstore_part_open(f.s, "huge", 1, 1ull << 30, 0, &w, &d), 0);
    ASSERT_TRUE(w.as != NULL);
    objstore_writer_abort(f.s, &w);
    ASSERT_EQ(objstore_part_open(f.s, "huge", 5121, 1ull << 30, 0, &w, &d), 0);
    ASSERT_TRUE(w.as == NULL); /* it would end past 5 TiB */
    objstore_writer_abort(f.s, &w);
    objstore_upload_end(f.s, "huge", NULL);
    /* A part never writes past its declared length. */
    ASSERT_EQ(put_part(&f, "v", 2, 100, 'b', &w), 0);
    ASSERT_TRUE(w.as != NULL);
    ASSERT_EQ(objstore_writer_write(&w, "!", 1, &d), KILN_EINCOMPLETE);
    objstore_writer_abort(f.s, &w);
    /* Completing: no new claims until reopened. */
    ASSERT_TRUE(objstore_upload_close(f.s, "v"));
    ASSERT_EQ(put_part(&f, "v", 2, 100, 'b', &w), 0);
    ASSERT_TRUE(w.as == NULL);
    objstore_writer_abort(f.s, &w);
    objstore_upload_reopen(f.s, "v");
    ASSERT_EQ(put_part(&f, "v", 2, 100, 'b', &w), 0);
    ASSERT_TRUE(w.as != NULL);
    objstore_writer_abort(f.s, &w);
    objstore_upload_end(f.s, "v", NULL);
    ASSERT_EQ(blob_size(&f, assembly), -1);
    fixture_close(&f);
}

struct late {
    struct fixture *f;
    struct objstore_writer *w;
};

static void *settle_later(void *arg)
{
    struct late *l = arg;
    struct kiln_diag d = {0};
    usleep(100 * 1000);
    if (objstore_writer_commit(l->f->s, l->w, &d) == 0)
        objstore_writer_settle(l->f->s, l->w, true, NULL);
    return NULL;
}

static void test_close_waits_for_parts_in_flight(void)
{
    struct fixture f;
    struct objstore_writer w;
    struct late l = {&f, &w};
    pthread_t t;

    ASSERT_EQ(fixture_open(&f), 0);
    ASSERT_EQ(put_part(&f, "w", 1, MIB5, 'a', &w), 0);
    ASSERT_EQ(pthread_create(&t, NULL, settle_later, &l), 0);
    ASSERT_TRUE(objstore_upload_close(f.s, "w")); /* waited: none left */
    pthread_join(t, NULL);
    objstore_upload_reopen(f.s, "w");
    /* A part that never settles: the wait gives up and says so. */
    ASSERT_EQ(put_part(&f, "w", 2, MIB5, 'b', &w), 0);
    ASSERT_TRUE(!objstore_upload_close(f.s, "w"));
    /* Ending the upload while it is in flight: the writer finishes on its
     * own and frees what is left (ASan checks). */
    objstore_upload_end(f.s, "w", NULL);
    ASSERT_EQ(blob_size(&f, w.id), -1);
    objstore_writer_abort(f.s, &w);
    fixture_close(&f);
}

/* A multipart object's full-object CRC-32C comes from its parts' CRCs. */
static void test_crc32c_combine(void)
{
    static uint8_t data[(1 << 20) + 77];
    uint64_t x = 88172645463325252ull;

    ASSERT_EQ(crc32c_update(0, "123456789", 9), 0xE3069283u);
    for (size_t i = 0; i < sizeof(data); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (uint8_t)x;
    }
    uint32_t whole = crc32c_update(0, data, sizeof(data));
    static const size_t cuts[] = {
        0,           1, 2, 3, 4, 5, 8, 1000, 65536, 1 << 20, sizeof(data) - 1,
        sizeof(data)};
    for (size_t i = 0; i < KILN_ARRAY_LEN(cuts); i++) {
        size_t a = cuts[i], b = sizeof(data) - a;
        uint32_t ca = crc32c_update(0, data, a);
        uint32_t cb = crc32c_update(0, data + a, b);
        ASSERT_EQ(crc32c_combine(ca, cb, b), whole);
    }
}

/* The SSE4.2 path and the table agree at every alignment and length. */
static void test_crc32c_paths_agree(void)
{
    static uint8_t data[4096 + 64];
    bool was = crc32c_simd(-1);

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131 + (i >> 7));
    for (int round = 0; round < 2; round++) {
        crc32c_simd(round);
        ASSERT_EQ(crc32c_update(0, "123456789", 9), 0xE3069283u);
    }
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len < 300; len += 7) {
            crc32c_simd(0);
            uint32_t table = crc32c_update(0x1234u, data + off, len);
            crc32c_simd(1);
            ASSERT_EQ(crc32c_update(0x1234u, data + off, len), table);
        }
    }
    crc32c_simd(0);
    uint32_t table = crc32c_update(0, data, sizeof(data));
    crc32c_simd(1);
    ASSERT_EQ(crc32c_update(0, data, sizeof(data)), table);
    crc32c_simd(was);
}

/* Linking an object where a link to it already is (two channels of one
 * name) replaces the link; the old code copied onto it, truncating the
 * stored blob to nothing. */
static void test_link_over_a_link_keeps_the_blob(void)
{
    struct fixture f;
    struct kiln_diag d = {0};
    struct meta_bucket b = {
        .name = "chan", .account = "111122223333", .region = "us-east-1"};
    char src[128], dest[128];
    FILE *fp;

    ASSERT_EQ(fixture_open(&f), 0);
    ASSERT_EQ(meta_bucket_create(f.m, &b, &d), 0);
    snprintf(src, sizeof(src), "%s/src.csv", f.dir);
    snprintf(dest, sizeof(dest), "%s/train.csv", f.dir);
    fp = fopen(src, "w");
    ASSERT_TRUE(fp != NULL);
    fputs("1,2,3\n4,5,6\n", fp);
    fclose(fp);
    ASSERT_EQ(objstore_put_path(f.s, "chan", "d/data.csv", src, "text/csv", &d),
              0);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(objstore_link_object(f.s, "chan", "d/data.csv", dest, &d), 0);
    struct stat st;
    ASSERT_EQ(stat(dest, &st), 0);
    ASSERT_EQ(st.st_size, 12);
    ASSERT_EQ(st.st_nlink, 2); /* the blob and this one link */
    fixture_close(&f);
}

/* CORS rules: one wildcard anywhere in an origin, headers in any case,
 * every requested header allowed or the rule does not apply. */
static void test_cors_match(void)
{
    json_t *rules = json_loads(
        "[{\"AllowedOrigins\": [\"https://*.example.com\"],"
        "  \"AllowedMethods\": [\"GET\"],"
        "  \"AllowedHeaders\": [\"x-amz-*\", \"Content-Type\"]},"
        " {\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"HEAD\"]}]",
        0, NULL);
    json_t *first = json_array_get(rules, 0),
           *second = json_array_get(rules, 1);

    ASSERT_TRUE(rules != NULL);
    ASSERT_TRUE(cors_match(rules, "https://a.example.com", "GET", NULL) ==
                first);
    ASSERT_TRUE(cors_match(rules, "https://.example.com", "GET", NULL) ==
                first);
    ASSERT_TRUE(cors_match(rules, "http://a.example.com", "GET", NULL) == NULL);
    ASSERT_TRUE(cors_match(rules, "https://a.example.com.evil", "GET", NULL) ==
                NULL);
    ASSERT_TRUE(cors_match(rules, "https://a.example.com", "get", NULL) ==
                NULL);
    ASSERT_TRUE(cors_match(rules, "https://a.example.com", "GET",
                           " X-Amz-Date ,content-type,x-amz-") == first);
    ASSERT_TRUE(cors_match(rules, "https://a.example.com", "GET",
                           "x-amz-date, authorization") == NULL);
    ASSERT_TRUE(cors_match(rules, "", "HEAD", NULL) == second);
    ASSERT_TRUE(cors_match(rules, "null", "HEAD", "x") == NULL);
    json_decref(rules);
}

static const struct test tests[] = {
    {"cors_match", test_cors_match},
    {"link_over_a_link_keeps_the_blob", test_link_over_a_link_keeps_the_blob},
    {"crc32c_paths_agree", test_crc32c_paths_agree},
    {"crc32c_combine", test_crc32c_combine},
    {"parts_land_at_their_strides", test_parts_land_at_their_strides},
    {"parts_that_do_not_fit_get_their_own_blob",
     test_parts_that_do_not_fit_get_their_own_blob},
    {"close_waits_for_parts_in_flight", test_close_waits_for_parts_in_flight},
};

HARNESS_MAIN(tests)
