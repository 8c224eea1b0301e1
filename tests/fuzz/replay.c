/*
 * replay.c - runs a fuzz target over files and directories given on the
 * command line, without libFuzzer. Any crash or sanitizer report fails the
 * run; otherwise it prints "N passed, 0 failed".
 */
#include <dirent.h>
#include <jansson.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "fuzz.h"

static int replay_file(const char *path)
{
    struct buf b = BUF_INIT((size_t)64 << 20);
    char chunk[65536];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_add(&b, chunk, n) != 0)
            break;
    fclose(f);
    LLVMFuzzerTestOneInput((const uint8_t *)(b.data ? b.data : ""), b.len);
    buf_release(&b);
    return 0;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;

    json_set_alloc_funcs(xmalloc, mem_free);
    log_set_level(LOG_ERROR);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            replay_file(argv[i]) == 0 ? passed++ : failed++;
            continue;
        }
        struct dirent **list;
        int n = scandir(argv[i], &list, NULL, alphasort);
        for (int j = 0; j < n; j++) {
            if (list[j]->d_name[0] != '.') {
                struct buf p = BUF_INIT(4096);
                buf_addf(&p, "%s/%s", argv[i], list[j]->d_name);
                replay_file(buf_cstr(&p)) == 0 ? passed++ : failed++;
                buf_release(&p);
            }
            free(list[j]); /* scandir's allocation */
        }
        if (n >= 0)
            free(list); /* scandir's allocation */
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
