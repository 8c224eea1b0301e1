/*
 * fuzz_image.c - what `kiln admin images load` reads of an archive before
 * it unpacks anything: image references (first line) normalized as the
 * index keys them, and member names (the other lines) resolved through
 * the archive's links (the second line, a JSON object) without leaving
 * the archive.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jobs/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *ref = fuzz_line(&p, end), *links_text = fuzz_line(&p, end);
    json_t *links = json_loads(links_text, 0, NULL);
    struct buf out = BUF_INIT(1 << 20);

    image_ref_normalize(ref, &out);
    if (out.len == 0 || strchr(buf_cstr(&out), ':') == NULL)
        if (!strchr(buf_cstr(&out), '@'))
            abort();
    while (p < end) {
        char *name = fuzz_line(&p, end);
        buf_reset(&out);
        if (image_archive_path(links, name, &out)) {
            const char *r = buf_cstr(&out);
            if (r[0] == '/' || strcmp(r, "..") == 0 ||
                strncmp(r, "../", 3) == 0 || strstr(r, "/../") ||
                strstr(r, "//"))
                abort();
        }
        free(name);
    }
    buf_release(&out);
    json_decref(links);
    free(ref);
    free(links_text);
    return 0;
}
