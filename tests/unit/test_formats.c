/*
 * test_formats.c - RecordIO-protobuf byte for byte against the spec's
 * worked examples, split records and bad input, the NDArray model file,
 * CSV parsing and its errors, model.tar.gz packing and hostile archives,
 * and IDX on the real Fashion-MNIST files when Debian's package is there.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/artifact.h"
#include "formats/csv.h"
#include "formats/dataproc.h"
#include "formats/idx.h"
#include "formats/jsonrows.h"
#include "formats/libsvm.h"
#include "formats/manifest.h"
#include "formats/ndarray.h"
#include "formats/record.h"
#include "formats/recordio.h"
#include "formats/split.h"
#include "harness.h"
#include "ml/rng.h"

static const uint8_t example56[] = {
    0x0a, 0x23, 0xd7, 0xce, 0x30, 0x00, 0x00, 0x00, 0x0a, 0x1a, 0x0a, 0x06,
    0x76, 0x61, 0x6c, 0x75, 0x65, 0x73, 0x12, 0x10, 0x12, 0x0e, 0x0a, 0x0c,
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40,
    0x12, 0x12, 0x0a, 0x06, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x73, 0x12, 0x08,
    0x12, 0x06, 0x0a, 0x04, 0x00, 0x00, 0xa0, 0x40};

static const uint8_t sparse60[] = {
    0x0a, 0x23, 0xd7, 0xce, 0x33, 0x00, 0x00, 0x00, 0x0a, 0x1d, 0x0a, 0x06,
    0x76, 0x61, 0x6c, 0x75, 0x65, 0x73, 0x12, 0x13, 0x12, 0x11, 0x0a, 0x08,
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x40, 0x40, 0x12, 0x02, 0x00, 0x02,
    0x1a, 0x01, 0x04, 0x12, 0x12, 0x0a, 0x06, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x73, 0x12, 0x08, 0x12, 0x06, 0x0a, 0x04, 0x00, 0x00, 0xa0, 0x40, 0x00};

static const uint8_t response72[] = {
    0x0a, 0x23, 0xd7, 0xce, 0x3e, 0x00, 0x00, 0x00, 0x12, 0x1b, 0x0a, 0x0f,
    0x63, 0x6c, 0x6f, 0x73, 0x65, 0x73, 0x74, 0x5f, 0x63, 0x6c, 0x75, 0x73,
    0x74, 0x65, 0x72, 0x12, 0x08, 0x12, 0x06, 0x0a, 0x04, 0x00, 0x00, 0x00,
    0x40, 0x12, 0x1f, 0x0a, 0x13, 0x64, 0x69, 0x73, 0x74, 0x61, 0x6e, 0x63,
    0x65, 0x5f, 0x74, 0x6f, 0x5f, 0x63, 0x6c, 0x75, 0x73, 0x74, 0x65, 0x72,
    0x12, 0x08, 0x12, 0x06, 0x0a, 0x04, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00};

static void test_write_examples(void)
{
    struct buf b = BUF_INIT(1 << 20);
    const float row[3] = {1, 2, 3}, label = 5, sv[2] = {1, 3};
    const uint64_t keys[2] = {0, 2};

    ASSERT_EQ(record_write_dense(&b, row, 3, &label), 0);
    ASSERT_EQ(b.len, 56);
    ASSERT_TRUE(memcmp(b.data, example56, 56) == 0);
    buf_reset(&b);
    ASSERT_EQ(record_write_dense(&b, row, 3, NULL), 0);
    ASSERT_EQ(b.len, 36);
    ASSERT_TRUE(memcmp(b.data + 8, example56 + 8, 28) == 0);
    ASSERT_EQ((uint8_t)b.data[4], 0x1c);
    buf_reset(&b);
    ASSERT_EQ(record_write_sparse(&b, sv, keys, 2, 4, &label), 0);
    ASSERT_EQ(b.len, 60);
    ASSERT_TRUE(memcmp(b.data, sparse60, 60) == 0);
    buf_reset(&b);
    const char *names[2] = {"closest_cluster", "distance_to_cluster"};
    const float vals[2] = {2.0f, 0.5f};
    ASSERT_EQ(record_write_labels(&b, names, vals, 2), 0);
    ASSERT_EQ(b.len, 72);
    ASSERT_TRUE(memcmp(b.data, response72, 72) == 0);
    buf_release(&b);
}

static void test_read_examples(void)
{
    /* The int32 label variant: label block 12 0f ... 3a 03 0a 01 05. */
    uint8_t intlab[56];
    struct recordio_reader r;
    struct record_ws *ws = record_ws_new();
    struct record_view v;
    struct kiln_diag d = {0};
    const uint8_t *p;
    size_t n;
    float row[4];

    memcpy(intlab, example56, 36);
    intlab[4] = 45;
    const uint8_t lab[] = {0x12, 0x0f, 0x0a, 0x06, 0x76, 0x61, 0x6c,
                           0x75, 0x65, 0x73, 0x12, 0x05, 0x3a, 0x03,
                           0x0a, 0x01, 0x05, 0,    0,    0};
    memcpy(intlab + 36, lab, sizeof(lab));

    uint8_t all[56 + 56 + 60];
    memcpy(all, example56, 56);
    memcpy(all + 56, intlab, 56);
    memcpy(all + 112, sparse60, 60);
    recordio_reader_init_mem(&r, all, sizeof(all));

    ASSERT_EQ(recordio_next(&r, &p, &n, &d), 0);
    ASSERT_EQ(record_decode(ws, p, n, &v, &d), 0);
    ASSERT_EQ(v.features.type, RECORD_F32);
    ASSERT_EQ(record_to_dense(&v.features, row, 3, &d), 0);
    ASSERT_TRUE(row[0] == 1 && row[1] == 2 && row[2] == 3);
    ASSERT_TRUE(record_value(&v.label, 0) == 5.0f);
    ASSERT_EQ(record_to_dense(&v.features, row, 4, &d), KILN_EDIM);

    ASSERT_EQ(recordio_next(&r, &p, &n, &d), 0);
    ASSERT_EQ(n, 45);
    ASSERT_EQ(record_decode(ws, p, n, &v, &d), 0);
    ASSERT_EQ(v.label.type, RECORD_I32);
    ASSERT_TRUE(record_value(&v.label, 0) == 5.0f);

    ASSERT_EQ(recordio_next(&r, &p, &n, &d), 0);
    ASSERT_EQ(record_decode(ws, p, n, &v, &d), 0);
    ASSERT_EQ(v.features.nkeys, 2);
    ASSERT_EQ(record_to_dense(&v.features, row, 4, &d), 0);
    ASSERT_TRUE(row[0] == 1 && row[1] == 0 && row[2] == 3 && row[3] == 0);
    ASSERT_EQ(record_to_dense(&v.features, row, 3, &d), KILN_EDIM);

    ASSERT_EQ(recordio_next(&r, &p, &n, &d), KILN_CONTINUE);
    recordio_reader_release(&r);
    record_ws_free(ws);
}

static void test_split_and_bad_records(void)
{
    /* payload "ab" + magic + "cd" written as two parts (flags 1 and 3) */
    const uint8_t split[] = {0x0a, 0x23, 0xd7, 0xce, 2,    0,    0,    0x20,
                             'a',  'b',  0,    0,    0x0a, 0x23, 0xd7, 0xce,
                             2,    0,    0,    0x60, 'c',  'd',  0,    0};
    struct recordio_reader r;
    struct kiln_diag d = {0};
    const uint8_t *p;
    size_t n;

    recordio_reader_init_mem(&r, split, sizeof(split));
    ASSERT_EQ(recordio_next(&r, &p, &n, &d), 0);
    ASSERT_EQ(n, 8);
    ASSERT_TRUE(memcmp(p,
                       "ab\x0a\x23\xd7\xce"
                       "cd",
                       8) == 0);
    ASSERT_EQ(recordio_next(&r, &p, &n, &d), KILN_CONTINUE);
    recordio_reader_release(&r);

    recordio_reader_init_mem(&r, example56, 30); /* truncated payload */
    ASSERT_EQ(recordio_next(&r, &p, &n, &d), KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "truncated");
    recordio_reader_release(&r);

    uint8_t bad[56];
    memcpy(bad, example56, 56);
    bad[0] = 0;
    recordio_reader_init_mem(&r, bad, 56);
    ASSERT_EQ(recordio_next(&r, &p, &n, &d), KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "magic");
    recordio_reader_release(&r);

    /* A length field of 0x1fffffff (512 MiB) with 4 bytes present. */
    const uint8_t huge[] = {0x0a, 0x23, 0xd7, 0xce, 0xff, 0xff,
                            0xff, 0x1f, 1,    2,    3,    4};
    recordio_reader_init_mem(&r, huge, sizeof(huge));
    r.max_record = 1 << 20;
    ASSERT_EQ(recordio_next(&r, &p, &n, &d), KILN_ETOOBIG);
    recordio_reader_release(&r);

    /* Protobuf garbage inside a well-framed record. */
    struct buf b = BUF_INIT(1024);
    struct record_ws *ws = record_ws_new();
    struct record_view v;
    recordio_write(&b, "\xff\xff\xff\xff\xff", 5);
    recordio_reader_init_mem(&r, b.data, b.len);
    ASSERT_EQ(recordio_next(&r, &p, &n, &d), 0);
    ASSERT_EQ(record_decode(ws, p, n, &v, &d), KILN_EINVAL);
    recordio_reader_release(&r);
    record_ws_free(ws);
    buf_release(&b);
}

static void test_recordio_fd_stream(void)
{
    char path[64];
    struct buf b = BUF_INIT(64 << 20);
    float row[784];
    int fd;

    for (int i = 0; i < 784; i++)
        row[i] = (float)i / 784;
    for (int i = 0; i < 2000; i++) {
        float label = (float)(i % 10);
        row[0] = (float)i;
        record_write_dense(&b, row, 784, &label);
    }
    snprintf(path, sizeof(path), "/tmp/kiln-test-rio-%d", (int)getpid());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(write(fd, b.data, b.len) == (ssize_t)b.len);
    lseek(fd, 0, SEEK_SET);
    struct recordio_reader r;
    struct record_ws *ws = record_ws_new();
    struct record_view v;
    struct kiln_diag d = {0};
    const uint8_t *p;
    size_t n;
    int count = 0;
    recordio_reader_init_fd(&r, fd);
    while (recordio_next(&r, &p, &n, &d) == 0) {
        ASSERT_EQ(record_decode(ws, p, n, &v, &d), 0);
        ASSERT_EQ(record_to_dense(&v.features, row, 784, &d), 0);
        ASSERT_TRUE(row[0] == (float)count);
        ASSERT_TRUE(record_value(&v.label, 0) == (float)(count % 10));
        count++;
    }
    ASSERT_EQ(count, 2000);
    recordio_reader_release(&r);
    record_ws_free(ws);
    close(fd);
    unlink(path);
    buf_release(&b);
}

static void test_ndarray(void)
{
    static const uint8_t example96[] = {
        0x12, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xc9, 0xfa, 0x93, 0xf9, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
        0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40,
        0x00, 0x00, 0xc0, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    const float m[6] = {1, 2, 3, 4, 5, 6};
    struct buf b = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};
    float *back = NULL;
    size_t rows, cols;

    ASSERT_EQ(sizeof(example96), 96);
    ASSERT_EQ(ndarray_write(&b, m, 2, 3), 0);
    ASSERT_EQ(b.len, 96);
    ASSERT_TRUE(memcmp(b.data, example96, 96) == 0);
    ASSERT_EQ(ndarray_read(example96, 96, &back, &rows, &cols, &d), 0);
    ASSERT_EQ(rows, 2);
    ASSERT_EQ(cols, 3);
    ASSERT_TRUE(memcmp(back, m, sizeof(m)) == 0);
    mem_free(back);
    for (size_t cut = 0; cut < 96 - 8; cut += 7)
        ASSERT_EQ(ndarray_read(example96, cut, &back, &rows, &cols, &d),
                  KILN_EINVAL);
    /* A shape claiming 2^40 elements with 8 bytes of data. */
    uint8_t lie[96];
    memcpy(lie, example96, 96);
    lie[40] = 0;
    lie[41] = 1;
    ASSERT_EQ(ndarray_read(lie, 96, &back, &rows, &cols, &d), KILN_EINVAL);
    buf_release(&b);
}

static void test_csv(void)
{
    static const char text[] = "5,1,2,3\r\n\n4,0.5,-1e-2, 7 \n3,1e3,2.5E+1,0";
    struct csv_reader r;
    struct kiln_diag d = {0};
    float row[3], label;
    size_t ncols;

    csv_reader_init_mem(&r, text, strlen(text));
    ASSERT_EQ(csv_next(&r, row, 3, &label, 1, &ncols, &d), 0);
    ASSERT_TRUE(label == 5 && row[0] == 1 && row[1] == 2 && row[2] == 3);
    ASSERT_EQ(csv_next(&r, row, 3, &label, 1, &ncols, &d), 0);
    ASSERT_TRUE(label == 4 && row[0] == 0.5f && row[1] == -0.01f &&
                row[2] == 7);
    ASSERT_EQ(r.line, 3);
    ASSERT_EQ(csv_next(&r, row, 3, &label, 1, &ncols, &d), 0);
    ASSERT_TRUE(row[0] == 1000 && row[1] == 25 && row[2] == 0);
    ASSERT_EQ(csv_next(&r, row, 3, &label, 1, &ncols, &d), KILN_CONTINUE);
    csv_reader_release(&r);

    static const struct {
        const char *text, *msg;
        int rc;
    } bad[] = {
        {"1,2\n1,2,3\n", "line 2 has 3 columns, expected 2", KILN_EDIM},
        {"1,2\n1\n", "line 2 has 1 columns, expected 2", KILN_EDIM},
        {"1,x2\n", "line 1, column 2: 'x2' is not a number", KILN_EINVAL},
        {"1,nan\n", "line 1, column 2: 'nan' is not a number", KILN_EINVAL},
        {"1,\n", "line 1, column 2: '' is not a number", KILN_EINVAL},
        {"1,1e\n", "is not a number", KILN_EINVAL},
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        csv_reader_init_mem(&r, bad[i].text, strlen(bad[i].text));
        int rc;
        do
            rc = csv_next(&r, row, 2, NULL, 0, &ncols, &d);
        while (rc == 0);
        ASSERT_EQ(rc, bad[i].rc);
        ASSERT_CONTAINS(d.msg, bad[i].msg);
        csv_reader_release(&r);
    }
    /* Width discovery. */
    csv_reader_init_mem(&r, "1,2,3,4\n", 8);
    ASSERT_EQ(csv_next(&r, NULL, 0, NULL, 0, &ncols, &d), 0);
    ASSERT_EQ(ncols, 4);
    csv_reader_release(&r);
}

/* A line of a million columns is refused with a clear error and bounded
 * memory (the row buffer is the caller's, of the declared width). */
static void test_csv_million_columns(void)
{
    size_t n = 1000000;
    char *text = xmalloc(2 * n);
    struct csv_reader r;
    struct kiln_diag d = {0};
    float row[784];
    size_t ncols;

    for (size_t i = 0; i < n; i++) {
        text[2 * i] = '0';
        text[2 * i + 1] = ',';
    }
    text[2 * n - 1] = '\n';
    csv_reader_init_mem(&r, text, 2 * n);
    ASSERT_EQ(csv_next(&r, row, 784, NULL, 0, &ncols, &d), KILN_EDIM);
    ASSERT_EQ(ncols, n);
    ASSERT_CONTAINS(d.msg, "line 1 has 1000000 columns, expected 784");
    csv_reader_release(&r);
    mem_free(text);
}

static void test_csv_float_accuracy(void)
{
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        char text[64];
        float got;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double v = (double)(s % 2000000) / 1000.0 - 1000.0;
        int e = (int)((s >> 40) % 20) - 10;
        snprintf(text, sizeof(text), "%.*fe%d", (int)(s % 7), v, e);
        ASSERT_EQ(csv_parse_float(text, strlen(text), false, &got), 0);
        float want = strtof(text, NULL);
        if (got != want)
            ASSERT_REL(got, want, 1.2e-7);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_artifact_round_trip_and_traversal(void)
{
    char dir[128], tgz[160], out[160], p[600];
    struct kiln_diag d = {0};
    struct buf b = BUF_INIT(1 << 20);

    snprintf(dir, sizeof(dir), "/tmp/kiln-test-art-%d", (int)getpid());
    snprintf(tgz, sizeof(tgz), "%s.tar.gz", dir);
    snprintf(out, sizeof(out), "%s.out", dir);
    mkdir(dir, 0700);
    mkdir(out, 0700);
    snprintf(p, sizeof(p), "%s/model_algo-1", dir);
    write_file(p, "centroids");
    snprintf(p, sizeof(p), "%s/sub", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/sub/extra.json", dir);
    write_file(p, "{}");
    ASSERT_EQ(artifact_pack(dir, tgz, &d), 0);
    ASSERT_EQ(artifact_extract(tgz, out, 1 << 20, &d), 0);
    snprintf(p, sizeof(p), "%s/sub/extra.json", out);
    ASSERT_EQ(access(p, R_OK), 0);
    /* Read one member from memory. */
    FILE *f = fopen(tgz, "rb");
    char raw[65536];
    size_t n = fread(raw, 1, sizeof(raw), f);
    fclose(f);
    ASSERT_EQ(artifact_member(raw, n, "model_algo-1", &b, &d), 0);
    ASSERT_STR_EQ(buf_cstr(&b), "centroids");
    buf_reset(&b);
    ASSERT_EQ(artifact_member(raw, n, "nope", &b, &d), KILN_ENOTFOUND);
    ASSERT_EQ(artifact_extract(tgz, out, 5, &d), KILN_ETOOBIG);

    /* Hostile archives: ../, absolute paths, symlinks. */
    static const char *const names[] = {"../escape", "/etc/evil", "a/../../b"};
    for (size_t i = 0; i < 4; i++) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        archive_write_add_filter_gzip(a);
        archive_write_set_format_pax_restricted(a);
        archive_write_open_filename(a, tgz);
        if (i < 3) {
            archive_entry_set_pathname(e, names[i]);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, 1);
            archive_entry_set_perm(e, 0644);
            archive_write_header(a, e);
            archive_write_data(a, "x", 1);
        } else {
            archive_entry_set_pathname(e, "link");
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, "/etc/passwd");
            archive_write_header(a, e);
        }
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        ASSERT_EQ(artifact_extract(tgz, out, 1 << 20, &d), KILN_EINVAL);
    }
    snprintf(p, sizeof(p), "rm -rf %s %s %s", dir, out, tgz);
    ASSERT_EQ(system(p), 0);
    buf_release(&b);
}

static void test_idx_fashion_mnist(void)
{
    const char *imgs = "/usr/share/datasets/fashion-mnist/"
                       "train-images-idx3-ubyte.gz";
    const char *labs = "/usr/share/datasets/fashion-mnist/"
                       "train-labels-idx1-ubyte.gz";
    struct idx x, y;
    struct kiln_diag d = {0};

    if (access(imgs, R_OK) != 0) {
        fprintf(stderr, "  skipped: dataset-fashion-mnist not installed\n");
        return;
    }
    ASSERT_EQ(idx_read(imgs, 0, &x, &d), 0);
    ASSERT_EQ(x.rows, 60000);
    ASSERT_EQ(x.cols, 784);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < x.rows * x.cols; i++) {
        lo = x.data[i] < lo ? x.data[i] : lo;
        hi = x.data[i] > hi ? x.data[i] : hi;
    }
    ASSERT_TRUE(lo == 0.0f && hi == 1.0f);
    ASSERT_EQ(idx_read(labs, 100, &y, &d), 0);
    ASSERT_EQ(y.rows, 100);
    ASSERT_EQ(y.cols, 1);
    ASSERT_TRUE(y.data[0] == 9.0f); /* the first training item: ankle boot */
    idx_release(&x);
    idx_release(&y);
    ASSERT_EQ(idx_read("/etc/hostname", 0, &x, &d), KILN_EINVAL);
}

static void test_libsvm_round_trip(void)
{
    /* Random sparse rows -> libsvm text -> CSR -> dense: the same rows. */
    struct rng_state {
        uint64_t s;
    } g = {12345};
    float rows[50][9], labels[50];
    struct buf text = BUF_INIT(1 << 20);
    struct csr m;
    struct kiln_diag d = {0};

    for (int i = 0; i < 50; i++) {
        labels[i] = (float)(i % 3);
        for (int j = 0; j < 9; j++) {
            g.s = g.s * 6364136223846793005ull + 1442695040888963407ull;
            rows[i][j] = (g.s >> 60) < 5 ? (float)((g.s >> 40) % 1000) / 8 : 0;
        }
        rows[i][8] = 1; /* so the width is always 9 */
        ASSERT_EQ(libsvm_write_row(&text, labels[i], rows[i], 9), 0);
    }
    ASSERT_EQ(libsvm_parse(text.data, text.len, &m, &d), 0);
    ASSERT_EQ(m.rows, 50);
    ASSERT_EQ(m.cols, 9);
    for (size_t i = 0; i < 50; i++) {
        float dense[9] = {0};
        for (size_t k = m.row_ptr[i]; k < m.row_ptr[i + 1]; k++)
            dense[m.col[k]] = m.val[k];
        ASSERT_TRUE(memcmp(dense, rows[i], sizeof(dense)) == 0);
        ASSERT_TRUE(m.label[i] == labels[i]);
    }
    csr_release(&m);
    buf_release(&text);
    /* A 0 index means 0-based. */
    ASSERT_EQ(libsvm_parse("1 0:1 2:3\n", 10, &m, &d), 0);
    ASSERT_TRUE(m.cols == 3 && m.col[0] == 0 && m.col[1] == 2);
    csr_release(&m);
    ASSERT_EQ(libsvm_parse("1 1:1\n2 3:x\n", 12, &m, &d), KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "line 2, column 3: '3:x' is not index:value");
}

static void test_manifests(void)
{
    static const char man[] =
        "[{\"prefix\": \"s3://bkt/data/\"}, \"matrix_0.pbr\", "
        "\"matrix_1.pbr\"]";
    static const char aug[] = "{\"source-ref\": \"s3://bkt/a.jpg\", "
                              "\"class\": 1}\n{\"source-ref\": "
                              "\"s3://bkt/b.jpg\", \"class\": 0}\n";
    static const char *const attrs[] = {"source-ref", "class", NULL};
    struct manifest m;
    struct kiln_diag d = {0};

    ASSERT_EQ(manifest_parse(man, strlen(man), &m, &d), 0);
    ASSERT_STR_EQ(m.prefix, "s3://bkt/data/");
    ASSERT_EQ(m.n, 2);
    ASSERT_STR_EQ(m.entries[1], "matrix_1.pbr");
    manifest_release(&m);
    ASSERT_EQ(manifest_parse("[\"x\"]", 5, &m, &d), KILN_EINVAL);
    ASSERT_EQ(manifest_parse_augmented(aug, strlen(aug), attrs, &m, &d), 0);
    ASSERT_EQ(m.n, 2);
    ASSERT_STR_EQ(m.entries[0], "s3://bkt/a.jpg");
    manifest_release(&m);
    static const char *const missing[] = {"source-ref", "label", NULL};
    ASSERT_EQ(manifest_parse_augmented(aug, strlen(aug), missing, &m, &d),
              KILN_EINVAL);
    ASSERT_CONTAINS(d.msg, "line 1 has no attribute 'label'");
}

static void test_json_payloads(void)
{
    static const char *const ok[] = {
        "{\"instances\": [{\"features\": [1, 2, 3]}]}",
        "{\"instances\": [{\"data\": {\"features\": {\"values\": [1, 2, "
        "3]}}}]}",
        "{\"instances\": [[1, 2, 3]]}",
        "[[1, 2, 3]]",
        "[1, 2, 3]",
        "{\"instances\": [{\"data\": {\"features\": {\"keys\": [0, 1, 2], "
        "\"shape\": [3], \"values\": [1, 2, 3]}}}]}",
    };
    struct buf rows = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};
    size_t n;
    for (size_t i = 0; i < KILN_ARRAY_LEN(ok); i++) {
        buf_reset(&rows);
        ASSERT_EQ(jsonrows_parse(ok[i], strlen(ok[i]), false, 3, &rows, &n, &d),
                  0);
        ASSERT_EQ(n, 1);
        const float *r = (const float *)(const void *)rows.data;
        ASSERT_TRUE(r[0] == 1 && r[1] == 2 && r[2] == 3);
    }
    static const char lines[] = "{\"features\": [1, 2, 3]}\n[4, 5, 6]\n";
    buf_reset(&rows);
    ASSERT_EQ(jsonrows_parse(lines, strlen(lines), true, 3, &rows, &n, &d), 0);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(jsonrows_parse("[[1, 2]]", 8, false, 3, &rows, &n, &d),
              KILN_EDIM);
    ASSERT_CONTAINS(d.msg,
                    "instance 0 has 2 features, but the model expects 3");
    buf_release(&rows);
}

static void test_recordio_csr_batches(void)
{
    /* Sparse and dense records read as CSR batches equal the libsvm CSR of
     * the same rows: same columns, values and labels, in batches of 16. */
    uint64_t g = 99;
    float rows[40][7], labels[40];
    struct buf rio = BUF_INIT(1 << 20), text = BUF_INIT(1 << 20);
    struct csr want, got = {0};
    struct kiln_diag d = {0};
    struct recordio_reader r;
    struct record_ws *ws = record_ws_new();

    for (int i = 0; i < 40; i++) {
        float vals[7];
        uint64_t keys[7];
        size_t n = 0;
        labels[i] = (float)(i % 4);
        for (int j = 0; j < 7; j++) {
            g = g * 6364136223846793005ull + 1442695040888963407ull;
            rows[i][j] = (g >> 61) < 3 ? (float)((g >> 40) % 100) + 0.5f : 0;
            if (rows[i][j] != 0) {
                vals[n] = rows[i][j];
                keys[n++] = (uint64_t)j;
            }
        }
        if (i % 2)
            ASSERT_EQ(record_write_dense(&rio, rows[i], 7, &labels[i]), 0);
        else
            ASSERT_EQ(record_write_sparse(&rio, vals, keys, n, 7, &labels[i]),
                      0);
        ASSERT_EQ(libsvm_write_row(&text, labels[i], rows[i], 7), 0);
    }
    ASSERT_EQ(libsvm_parse(text.data, text.len, &want, &d), 0);
    recordio_reader_init_mem(&r, rio.data, rio.len);
    size_t row = 0, batches = 0;
    for (;;) {
        ASSERT_EQ(record_read_csr(&r, ws, 7, 16, &got, &d), 0);
        if (got.rows == 0)
            break;
        batches++;
        ASSERT_EQ(got.cols, 7);
        for (size_t i = 0; i < got.rows; i++, row++) {
            size_t a = got.row_ptr[i], b = want.row_ptr[row];
            ASSERT_EQ(got.row_ptr[i + 1] - a, want.row_ptr[row + 1] - b);
            for (size_t k = 0; k < got.row_ptr[i + 1] - a; k++) {
                ASSERT_EQ(got.col[a + k], want.col[b + k]);
                ASSERT_TRUE(got.val[a + k] == want.val[b + k]);
            }
            ASSERT_TRUE(got.label[i] == want.label[row]);
        }
    }
    ASSERT_EQ(row, 40);
    ASSERT_EQ(batches, 3);
    recordio_reader_release(&r);
    /* A key outside feature_dim is an error, not a write past the row. */
    recordio_reader_init_mem(&r, rio.data, rio.len);
    ASSERT_EQ(record_read_csr(&r, ws, 5, 16, &got, &d), KILN_EDIM);
    recordio_reader_release(&r);
    csr_release(&got);
    csr_release(&want);
    record_ws_free(ws);
    buf_release(&rio);
    buf_release(&text);
}

/* One line of random plain decimals: every length of integer and
 * fraction part (none, leading zeros, 16 digits and past, 19 and past),
 * with and without a sign, dot first or last, at a line's end or not. */
static void random_line(struct rng *rng, struct buf *line, size_t cols,
                        char (*field)[64])
{
    buf_reset(line);
    for (size_t c = 0; c < cols; c++) {
        char *f = field[c];
        size_t n = 0, ilen = rng_below(rng, 24), flen = rng_below(rng, 24);
        if (rng_below(rng, 4) == 0)
            f[n++] = '-';
        for (size_t i = 0; i < ilen; i++) /* zeros often */
            f[n++] = (char)('0' + (rng_below(rng, 3) ? rng_below(rng, 10) : 0));
        if (ilen == 0 && rng_below(rng, 2))
            f[n++] = '0';
        bool digits = n && f[n - 1] != '-';
        if (flen || !digits || rng_below(rng, 2)) {
            f[n++] = '.';
            for (size_t i = 0; i < flen; i++)
                f[n++] =
                    (char)('0' + (rng_below(rng, 3) ? rng_below(rng, 10) : 0));
            if (flen == 0 && !digits)
                f[n++] = '5';
        }
        f[n] = '\0';
        buf_addf(line, "%s%s", c ? "," : "", f);
    }
}

/* The fast paths for plain decimals (the byte loop, and SSE4.1 16 bytes
 * at a time where the CPU has it) give exactly the full parser's float. */
static void test_csv_fast_path_exact(void)
{
    struct rng rng;
    struct buf line = BUF_INIT(1 << 20);
    enum { COLS = 64 };
    float row[COLS];
    char field[COLS][64];
    bool was = csv_simd(-1);
    rng_seed(&rng, 99);
    for (int round = 0; round < 800; round++) {
        random_line(&rng, &line, COLS, field);
        csv_simd(round & 1);
        struct csv_reader r;
        struct kiln_diag d = {0};
        size_t ncols;
        csv_reader_init_mem(&r, line.data, line.len);
        ASSERT_EQ(csv_next(&r, row, COLS, NULL, 0, &ncols, &d), 0);
        csv_reader_release(&r);
        for (int c = 0; c < COLS; c++) {
            float want;
            ASSERT_EQ(csv_parse_float(field[c], strlen(field[c]), false, &want),
                      0);
            ASSERT_TRUE(memcmp(&want, &row[c], sizeof(float)) == 0);
        }
    }
    csv_simd(was);
    buf_release(&line);
}

/* Fields the fast paths must leave to the full parser, or refuse, with
 * the same result and the same message whichever path runs; in the
 * middle of a long line and at its end. */
static void test_csv_paths_agree(void)
{
    static const char *const fields[] = {".",
                                         "-",
                                         "-.",
                                         "..5",
                                         "1..2",
                                         "1.2.3",
                                         "--1",
                                         "1-",
                                         "+1",
                                         " 1.5",
                                         "1.5 ",
                                         "1e3",
                                         "1E-2",
                                         "0x10",
                                         "nan",
                                         "inf",
                                         "1,",
                                         "",
                                         "5.",
                                         ".5",
                                         "-.5",
                                         "-5.",
                                         "-0",
                                         "-0.0",
                                         "00012.5000",
                                         "1234567890123456",
                                         "12345678901234567",
                                         "0.00000000000000000001",
                                         "99999999999999999999999"};
    bool was = csv_simd(-1);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        for (int at_end = 0; at_end < 2; at_end++) {
            char text[256], msg[2][1024];
            float out[2][6];
            int rc[2];
            if (at_end)
                snprintf(text, sizeof(text), "1,2,3,4,5,%s", fields[i]);
            else
                snprintf(text, sizeof(text),
                         "%s,0.25,0.125,1.5,2.5,11111111111111111111111111111"
                         "11111111111111111111111111111111111111111111111111",
                         fields[i]);
            for (int simd = 0; simd < 2; simd++) {
                struct csv_reader r;
                struct kiln_diag d = {0};
                size_t ncols = 0;
                csv_simd(simd);
                memset(out[simd], 0, sizeof(out[simd]));
                csv_reader_init_mem(&r, text, strlen(text));
                rc[simd] = csv_next(&r, out[simd], 6, NULL, 0, &ncols, &d);
                snprintf(msg[simd], sizeof(msg[simd]), "%s", d.msg);
                csv_reader_release(&r);
            }
            ASSERT_EQ(rc[0], rc[1]);
            ASSERT_STR_EQ(msg[0], msg[1]);
            ASSERT_TRUE(memcmp(out[0], out[1], sizeof(out[0])) == 0);
        }
    }
    csv_simd(was);
}

/* Writes len bytes to an unlinked temporary file; returns it at offset 0. */
static int temp_fd(const void *data, size_t len)
{
    char path[] = "/tmp/kiln-split-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
        abort();
    unlink(path);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Every mini-batch of `data`, each followed by '|', into out. */
static int split_all(const void *data, size_t len, enum split_type type,
                     bool single, size_t max, struct buf *out, size_t *n,
                     struct kiln_diag *d)
{
    struct splitter s;
    struct buf batch = BUF_INIT(1 << 20);
    size_t records;
    int fd = temp_fd(data, len), rc;
    buf_reset(out);
    *n = 0;
    rc = splitter_init(&s, fd, false, type, single, max, d);
    while (!rc && (rc = splitter_next(&s, &batch, &records, d)) == 0) {
        buf_add(out, batch.data, batch.len);
        buf_addc(out, '|');
        *n += records;
    }
    splitter_release(&s);
    buf_release(&batch);
    close(fd);
    return rc == KILN_CONTINUE ? 0 : rc;
}

static void test_transform_splitter(void)
{
    struct buf out = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};
    size_t n;

    /* Lines: blank ones skipped, the last one given its newline, packed
     * into batches of at most 9 bytes. */
    const char *text = "a,1\n\n\r\nbb,2\ncc,3\ndddd,4";
    ASSERT_EQ(split_all(text, strlen(text), SPLIT_LINE, false, 9, &out, &n, &d),
              0);
    ASSERT_STR_EQ(buf_cstr(&out), "a,1\nbb,2\n|cc,3\n|dddd,4\n|");
    ASSERT_EQ(n, 4u);
    ASSERT_EQ(
        split_all(text, strlen(text), SPLIT_LINE, true, 100, &out, &n, &d), 0);
    ASSERT_STR_EQ(buf_cstr(&out), "a,1\n|bb,2\n|cc,3\n|dddd,4\n|");
    /* A line longer than the payload fails, wherever it is. */
    ASSERT_EQ(split_all(text, strlen(text), SPLIT_LINE, false, 5, &out, &n, &d),
              KILN_ETOOBIG);
    ASSERT_TRUE(strstr(d.msg, "MaxPayloadInMB") != NULL);
    /* None: the whole object, or nothing for an empty one. */
    ASSERT_EQ(
        split_all(text, strlen(text), SPLIT_NONE, false, 100, &out, &n, &d), 0);
    ASSERT_EQ(n, 1u);
    ASSERT_EQ(out.len, strlen(text) + 1);
    ASSERT_EQ(split_all("", 0, SPLIT_NONE, false, 100, &out, &n, &d), 0);
    ASSERT_EQ(n, 0u);

    /* RecordIO: records kept framed; a split record (flags 1, 3) is one. */
    struct buf rio = BUF_INIT(4096);
    recordio_write(&rio, "abcde", 5); /* 8 + 8 bytes */
    static const uint8_t split2[] = {
        0x0a, 0x23, 0xd7, 0xce, 0x02, 0x00, 0x00, 0x20, 'x', 'y', 0, 0,
        0x0a, 0x23, 0xd7, 0xce, 0x01, 0x00, 0x00, 0x60, 'z', 0,   0, 0};
    buf_add(&rio, split2, sizeof(split2));
    recordio_write(&rio, "", 0);
    ASSERT_EQ(
        split_all(rio.data, rio.len, SPLIT_RECORDIO, false, 40, &out, &n, &d),
        0);
    ASSERT_EQ(n, 3u);
    /* 16 + 24 fit in 40; the empty record (8 bytes) goes next. */
    ASSERT_EQ(out.len, rio.len + 2);
    ASSERT_EQ(out.data[40], '|');
    ASSERT_EQ(split_all(rio.data, rio.len - 1, SPLIT_RECORDIO, false, 40, &out,
                        &n, &d),
              KILN_EINVAL);
    ASSERT_TRUE(strstr(d.msg, "truncated") != NULL);
    ASSERT_EQ(split_all("garbage!", 8, SPLIT_RECORDIO, false, 40, &out, &n, &d),
              KILN_EINVAL);
    ASSERT_TRUE(strstr(d.msg, "not RecordIO") != NULL);

    /* TFRecord: u64 length, CRC, data, CRC, each record kept whole. */
    static const uint8_t tf[] = {3,   0,   0,   0, 0, 0, 0, 0, 9, 9, 9, 9,
                                 'a', 'b', 'c', 8, 8, 8, 8, 0, 0, 0, 0, 0,
                                 0,   0,   0,   7, 7, 7, 7, 6, 6, 6, 6};
    ASSERT_EQ(
        split_all(tf, sizeof(tf), SPLIT_TFRECORD, true, 100, &out, &n, &d), 0);
    ASSERT_EQ(n, 2u);
    ASSERT_EQ(out.len, sizeof(tf) + 2);
    ASSERT_EQ(out.data[19], '|');
    ASSERT_EQ(split_all(tf, 10, SPLIT_TFRECORD, true, 100, &out, &n, &d),
              KILN_EINVAL);
    buf_release(&rio);
    buf_release(&out);
}

/* What `path` selects from the JSON `in`, dumped; or "error: ...". */
static void select_json(const char *path, const char *in, char *out,
                        size_t size)
{
    struct jsonpath *p = NULL;
    struct kiln_diag d = {0};
    json_t *v = json_loads(in, JSON_DECODE_ANY, NULL), *sel = NULL;
    if (jsonpath_parse(path, &p, &d) != 0 ||
        jsonpath_apply(p, v, &sel, &d) != 0) {
        snprintf(out, size, "error: %.400s", d.msg);
    } else {
        char *t = json_dumps(sel, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(out, size, "%s", t);
        free(t);
    }
    json_decref(sel);
    json_decref(v);
    jsonpath_free(p);
}

static void test_transform_data_processing(void)
{
    static const struct {
        const char *path, *in, *want;
    } cases[] = {
        {"$", "[1,2]", "[1,2]"},
        {"$[1:]", "[\"id\",2,3]", "[2,3]"},
        {"$[0,-1]", "[1,2,3]", "[1,3]"},
        {"$[0,2:]", "[1,2,3,4]", "[1,3,4]"},
        {"$[:2]", "[1,2,3]", "[1,2]"},
        {"$[-2:]", "[1,2,3]", "[2,3]"},
        {"$[1]", "[1,2,3]", "2"},
        {"$.features", "{\"id\":1,\"features\":[5,6]}", "[5,6]"},
        {"$.a.b[0]", "{\"a\":{\"b\":[7]}}", "7"},
        {"$['id','SageMakerOutput']",
         "{\"id\":1,\"x\":2,\"SageMakerOutput\":3}",
         "{\"id\":1,\"SageMakerOutput\":3}"},
        {"$[*]", "{\"a\":1,\"b\":2}", "[1,2]"},
        {"$.*", "[1,2]", "[1,2]"},
        {"$[5]", "[1,2]", "error: Index 5 is out of range"},
        {"$.nope", "{}", "error: The record has no member 'nope'."},
        {"$[1]", "{}", "error: An index or a slice"},
        {"features", "{}", "error: 'features' is not a JSONPath"},
        {"$[1", "[1]", "error: '$[1' is not"},
        {"$['a", "{}", "error: '$['a' is not"},
        {"$.", "{}", "error: '$.' is not"},
        {"$[x]", "{}", "error: '$[x]' is not"},
    };
    char got[512];
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        select_json(cases[i].path, cases[i].in, got, sizeof(got));
        if (strncmp(cases[i].want, "error: ", 7) == 0)
            ASSERT_TRUE(strncmp(got, cases[i].want, strlen(cases[i].want)) ==
                        0);
        else
            ASSERT_STR_EQ(got, cases[i].want);
    }

    /* CSV: an ID column left out of what the model gets, then joined back
     * with the answer; fields kept byte for byte, quotes where needed. */
    struct dataproc p;
    struct kiln_diag d = {0};
    struct buf out = BUF_INIT(4096);
    ASSERT_EQ(dataproc_init(&p, "$[1:]", "$[0,-2]", true, true, true, &d), 0);
    const char *rec = "\"a,\"\"b\"\"\",1.50,2e3";
    ASSERT_EQ(dataproc_input(&p, rec, strlen(rec), &out, &d), 0);
    ASSERT_STR_EQ(buf_cstr(&out), "1.50,2e3\n");
    ASSERT_TRUE(dataproc_rewrites_output(&p));
    buf_reset(&out);
    ASSERT_EQ(dataproc_output(&p, rec, strlen(rec), "3,0.25\r", 7, &out, &d),
              0);
    ASSERT_STR_EQ(buf_cstr(&out), "\"a,\"\"b\"\"\",3\n");
    buf_reset(&out);
    ASSERT_EQ(dataproc_input(&p, "\"open", 5, &out, &d), KILN_EINVAL);
    ASSERT_TRUE(strstr(d.msg, "no closing quote") != NULL);
    dataproc_release(&p);

    /* A JSON answer joined to a CSV row is one field. */
    ASSERT_EQ(dataproc_init(&p, NULL, "$", true, true, false, &d), 0);
    buf_reset(&out);
    ASSERT_EQ(dataproc_output(&p, "1,2", 3, "{\"a\":1,\"b\":2}", 13, &out, &d),
              0);
    ASSERT_STR_EQ(buf_cstr(&out), "1,2,\"{\"\"a\"\":1,\"\"b\"\":2}\"\n");
    dataproc_release(&p);

    /* JSON: the answer under SageMakerOutput; a record that is not an
     * object is wrapped. */
    ASSERT_EQ(dataproc_init(&p, "$.data", "$['id','SageMakerOutput']", true,
                            false, false, &d),
              0);
    rec = "{\"id\":7,\"data\":{\"features\":[1,2]},\"x\":0}";
    buf_reset(&out);
    ASSERT_EQ(dataproc_input(&p, rec, strlen(rec), &out, &d), 0);
    ASSERT_STR_EQ(buf_cstr(&out), "{\"features\":[1,2]}\n");
    buf_reset(&out);
    ASSERT_EQ(dataproc_output(&p, rec, strlen(rec), "{\"c\":1}", 7, &out, &d),
              0);
    ASSERT_STR_EQ(buf_cstr(&out), "{\"id\":7,\"SageMakerOutput\":{\"c\":1}}\n");
    dataproc_release(&p);
    ASSERT_EQ(dataproc_init(&p, NULL, NULL, true, false, false, &d), 0);
    buf_reset(&out);
    ASSERT_EQ(dataproc_output(&p, "[1,2]", 5, "3", 1, &out, &d), 0);
    ASSERT_STR_EQ(buf_cstr(&out),
                  "{\"SageMakerInput\":[1,2],\"SageMakerOutput\":3}\n");
    ASSERT_EQ(dataproc_input(&p, "{oops", 5, &out, &d), KILN_EINVAL);
    dataproc_release(&p);
    ASSERT_EQ(dataproc_init(&p, "$[", NULL, false, true, false, &d),
              KILN_EINVAL);
    ASSERT_TRUE(strncmp(d.msg, "InputFilter: ", 13) == 0);
    buf_release(&out);
}

static const struct test tests[] = {
    {"batch transform data processing", test_transform_data_processing},
    {"batch transform splitter", test_transform_splitter},
    {"CSV fast path equals the full parser", test_csv_fast_path_exact},
    {"CSV fast paths and the full parser agree on odd fields",
     test_csv_paths_agree},
    {"RecordIO as CSR batches", test_recordio_csr_batches},
    {"libsvm round trip and errors", test_libsvm_round_trip},
    {"manifest files", test_manifests},
    {"JSON inference payloads", test_json_payloads},
    {"RecordIO-protobuf writes the spec's examples", test_write_examples},
    {"RecordIO-protobuf reads dense, int-label, sparse", test_read_examples},
    {"split records and bad input", test_split_and_bad_records},
    {"streaming reader over a file", test_recordio_fd_stream},
    {"NDArray model file", test_ndarray},
    {"CSV rows and errors", test_csv},
    {"CSV float parser against strtof", test_csv_float_accuracy},
    {"CSV with a million columns", test_csv_million_columns},
    {"model.tar.gz and hostile archives",
     test_artifact_round_trip_and_traversal},
    {"IDX on Fashion-MNIST", test_idx_fashion_mnist},
};

HARNESS_MAIN(tests)
