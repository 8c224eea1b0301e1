/*
 * fuzz_sigv4.c - the SigV4 Authorization header and presigned-query
 * parsers, and the canonical-request builder over hostile paths, queries
 * and header values. Input: up to four NUL-separated fields - an
 * Authorization value, a raw query, a raw path, a header value.
 */
#include "auth/sigv4.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    const char *field[4] = {"", "", "/", ""};
    struct sigv4_auth a;
    struct kiln_diag d = {0};
    size_t start = 0;
    int nf = 0;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i <= size && nf < 4; i++)
        if (text[i] == '\0') {
            field[nf++] = text + start;
            start = i + 1;
        }

    if (sigv4_parse_authorization(field[0], &a, &d) != 0 &&
        sigv4_parse_presigned(field[1], &a, &d) != 0) {
        memset(&a, 0, sizeof(a));
        snprintf(a.signed_headers, sizeof(a.signed_headers),
                 "host;x-amz-date;x");
        memcpy(a.amz_date, "20250101T000000Z", 17);
        memcpy(a.date, "20250101", 9);
    }
    struct http_header h[] = {{"Host", "h"}, {"X", field[3]}, {"x", field[3]}};
    for (int s3 = 0; s3 < 2; s3++) {
        struct sigv4_input in = {
            .method = "GET",
            .path = field[2],
            .query = field[1],
            .s3 = s3,
            .headers = h,
            .nheaders = 3,
            .payload_hash = "UNSIGNED-PAYLOAD",
        };
        sigv4_verify(&in, &a, "secret", NULL, &d);
    }
    sigv4_check_time(&a, 1735689600, &d);
    free(text);
    return 0;
}
