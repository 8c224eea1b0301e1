/*
 * paging.h - List* operations' NextToken: a self-contained keyset position.
 *
 * A token is base64 of a small JSON object naming the sort order and the
 * last row returned, so it survives concurrent inserts and needs no server
 * state (api-contract.md §1.5). Any thread.
 */
#ifndef KILN_API_PAGING_H
#define KILN_API_PAGING_H

#include <jansson.h>

#include "base/err.h"

/* Encodes `pos` (borrowed); returns a string to free with mem_free(). */
char *paging_token_encode(json_t *pos);

/* Decodes a token into a new JSON object; KILN_EVALIDATION if malformed. */
int paging_token_decode(const char *token, json_t **out, struct kiln_diag *d);

#endif
