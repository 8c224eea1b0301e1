/*
 * fuzz_invoke.c - one POST /invocations of the k-means model server, as a
 * client sends it: the first line is the Content-Type, the second the
 * Accept header (which the server negotiates), the rest the body. The
 * model is fixed: 3 centers of 4 features. The same headers go through
 * the script-mode server's negotiation.
 */
#include <stdlib.h>
#include <string.h>

#include "algos/kmeans/serve.h"
#include "algos/script/serve.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float centers[12] = {0, 0, 0, 0, 1, 1, 1, 1, -2, 3, 0.5f, 9};
    static float cnorm[3] = {0, 4, 4 + 9 + 0.25f + 81};
    const struct kmeans_model m = {3, 4, centers, cnorm};
    const uint8_t *p = data, *end = data + size;
    char *ctype = fuzz_line(&p, end), *accept = fuzz_line(&p, end);
    struct buf out = BUF_INIT(64u << 20);
    const char *type = NULL;
    int status = 0;

    kmeans_invoke(&m, ctype, accept, p, (size_t)(end - p), &status, &out,
                  &type);
    if (!type || (status != 200 && status != 400 && status != 406 &&
                  status != 415 && status != 500))
        abort();
    char ct[128], at[128];
    script_negotiate(ctype, accept, "application/json", ct, at, sizeof(ct));
    if (!*at || strchr(at, '*'))
        abort();
    buf_release(&out);
    free(ctype);
    free(accept);
    return 0;
}
