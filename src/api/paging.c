/*
 * paging.c - base64 via OpenSSL's EVP block coder around jansson.
 */
#include "api/paging.h"

#include <openssl/evp.h>

#include "base/mem.h"

char *paging_token_encode(json_t *pos)
{
    char *text = json_dumps(pos, JSON_COMPACT | JSON_SORT_KEYS);
    size_t n = strlen(text);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
    mem_free(text);
    return out;
}

int paging_token_decode(const char *token, json_t **out, struct kiln_diag *d)
{
    size_t n = strlen(token);
    unsigned char *raw;
    int len;
    json_t *j = NULL;

    if (n == 0 || n % 4 != 0 || n > 8192)
        goto bad;
    raw = xmalloc(n);
    len = EVP_DecodeBlock(raw, (const unsigned char *)token, (int)n);
    if (len > 0) {
        while (len > 0 && raw[len - 1] == '\0')
            len--; /* EVP_DecodeBlock keeps the padding's zero bytes */
        j = json_loadb((const char *)raw, (size_t)len, 0, NULL);
    }
    mem_free(raw);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        goto bad;
    }
    *out = j;
    return 0;
bad:
    return diag_set(d, KILN_EVALIDATION, "Invalid pagination token.");
}
