/*
 * fuzz_json_request.c - the AWS JSON 1.1 request decoder: jansson parsing
 * plus the shape validator (types, lengths, patterns, enums, nested paths).
 */
#include <jansson.h>

#include "api/training.h"
#include "api/validate.h"
#include "fuzz.h"

static const struct vshape str5 = {.type = VT_STRING,
                                   .flags = V_MIN | V_MAX,
                                   .min = 1,
                                   .max = 5,
                                   .pattern = "[a-z]+"};
static const struct vshape num = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 9};
static const struct vmember inner_members[] = {
    {"Name", &str5, true}, {"Count", &num, false}, {NULL, NULL, false}};
static const struct vshape inner = {.type = VT_STRUCTURE,
                                    .members = inner_members};
static const struct vshape list = {
    .type = VT_LIST, .flags = V_MAX, .max = 3, .item = &inner};
static const struct vshape map = {.type = VT_MAP, .key = &str5, .item = &str5};
static const struct vmember top_members[] = {
    {"Items", &list, true}, {"Tags", &map, false}, {NULL, NULL, false}};
static const struct vshape top = {.type = VT_STRUCTURE, .members = top_members};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_diag d = {0};
    json_t *v =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (v && json_is_object(v)) {
        validate_request(&top, v, &d);
        validate_request(&training_list_input, v, &d);
        validate_request(&training_create_input, v, &d);
    }
    json_decref(v);
    return 0;
}
