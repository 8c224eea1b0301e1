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

/*
 * One page of a list gathered and sorted in memory (items, n of them,
 * borrowed), for a List* call `in`: its NextToken is an offset into the
 * list, MaxResults the page size (10 by default). *out gets the page
 * under `key`, and a NextToken when more remain; KILN_EVALIDATION for a
 * token that is no offset of this list.
 */
int paging_offset_page(json_t *in, json_t *const *items, size_t n,
                       const char *key, json_t **out, struct kiln_diag *d);

#endif
