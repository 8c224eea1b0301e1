/*
 * tags.h - AddTags, ListTags and DeleteTags for SageMaker resources, by
 * ARN. A tag on a resource the caller's account does not have is a
 * ValidationException, as AWS answers. Handlers follow api_handler_fn.
 */
#ifndef KILN_API_TAGS_H
#define KILN_API_TAGS_H

#include "api/dispatch.h"

extern const struct vshape tags_add_input;
extern const struct vshape tags_list_input;
extern const struct vshape tags_delete_input;
/* A request's "Tags" member: at most 50 {Key, Value}, SageMaker's
 * patterns. */
extern const struct vshape tags_shape;

/* Stores the request's Tags on the resource `arn` (the request was
 * validated with tags_shape). */
void tags_store(const struct api_ctx *c, const char *arn, json_t *in);

int tags_add(const struct api_ctx *c, json_t *in, json_t **out,
             struct kiln_diag *d);
int tags_list(const struct api_ctx *c, json_t *in, json_t **out,
              struct kiln_diag *d);
int tags_delete(const struct api_ctx *c, json_t *in, json_t **out,
                struct kiln_diag *d);

#endif
