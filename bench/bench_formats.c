/*
 * bench_formats.c - parse speed of kiln's readers: streams a file through
 * the dataset reader (the path training uses) in 5,000-row dense batches
 * and prints rows/s and MB/s. Usage: bench_formats FILE CONTENT-TYPE DIM
 */
#include <sys/stat.h>
#include <time.h>

#include "base/mem.h"
#include "formats/dataset.h"

int main(int argc, char **argv)
{
    struct kiln_diag d = {0};
    struct dataset *ds = NULL;
    enum content_type ct;
    size_t label, dim, got, rows = 0;
    struct timespec a, b;
    struct stat st;
    float *batch;
    int rc;

    if (argc != 4 || stat(argv[1], &st) != 0) {
        fprintf(stderr, "usage: bench_formats FILE CONTENT-TYPE DIM\n");
        return 2;
    }
    dim = (size_t)strtoul(argv[3], NULL, 10);
    if (content_type_parse(argv[2], &ct, &label, &d) != 0 ||
        dataset_open((const char *const *)&argv[1], 1, NULL, "bench", ct, dim,
                     label, &ds, &d) != 0) {
        fprintf(stderr, "bench_formats: %s\n", d.msg);
        return 1;
    }
    batch = xmalloc(5000 * dim * sizeof(float));
    clock_gettime(CLOCK_MONOTONIC, &a);
    while ((rc = dataset_next(ds, batch, NULL, 5000, &got, &d)) == 0 && got)
        rows += got;
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc) {
        fprintf(stderr, "bench_formats: %s\n", d.msg);
        return 1;
    }
    double secs =
        (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%zu rows %.4f s %.0f rows/s %.1f MB/s\n", rows, secs,
           (double)rows / secs, (double)st.st_size / secs / 1e6);
    dataset_close(ds);
    mem_free(batch);
    return 0;
}
