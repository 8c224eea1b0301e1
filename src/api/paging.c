/*
 * paging.c - base64 via OpenSSL's EVP block coder around jansson.
 */
#include "api/paging.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

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

int paging_offset_page(json_t *in, json_t *const *items, size_t n,
                       const char *key, json_t **out, struct kiln_diag *d)
{
    const char *tok = json_string_value(json_object_get(in, "NextToken"));
    json_t *max = json_object_get(in, "MaxResults");
    size_t from = 0, limit = max ? (size_t)json_integer_value(max) : 10;
    if (tok) {
        char *end;
        unsigned long long x = strtoull(tok, &end, 10);
        if (*tok < '0' || *tok > '9' || *end || x > n)
            return diag_set(d, KILN_EVALIDATION, "Invalid NextToken.");
        from = (size_t)x;
    }
    json_t *page = json_array();
    for (size_t i = from; i < n && i < from + limit; i++)
        json_array_append(page, items[i]);
    *out = json_pack("{s:o}", key, page);
    if (from + limit < n) {
        char next[32];
        snprintf(next, sizeof(next), "%zu", from + limit);
        json_object_set_new(*out, "NextToken", json_string(next));
    }
    return 0;
}
