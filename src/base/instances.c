/*
 * instances.c - the instance families SageMaker's training, hosting and
 * batch APIs offer, sizes from AWS's published specifications.
 */
#include "base/instances.h"

#define SIZES(fam, g)                                                          \
    {"ml." fam ".large", 2, 8 * (g), 0},                                       \
        {"ml." fam ".xlarge", 4, 16 * (g), 0},                                 \
        {"ml." fam ".2xlarge", 8, 32 * (g), 0},                                \
        {"ml." fam ".4xlarge", 16, 64 * (g), 0},                               \
        {"ml." fam ".8xlarge", 32, 128 * (g), 0},                              \
        {"ml." fam ".12xlarge", 48, 192 * (g), 0},                             \
        {"ml." fam ".16xlarge", 64, 256 * (g), 0},                             \
    {                                                                          \
        "ml." fam ".24xlarge", 96, 384 * (g), 0                                \
    }

static const struct instance_type types[] = {
    SIZES("m5", 1),
    SIZES("m5d", 1),
    SIZES("m6i", 1),
    {"ml.m4.xlarge", 4, 16, 0},
    {"ml.m4.2xlarge", 8, 32, 0},
    {"ml.m4.4xlarge", 16, 64, 0},
    {"ml.m4.10xlarge", 40, 160, 0},
    {"ml.m4.16xlarge", 64, 256, 0},
    {"ml.c4.xlarge", 4, 7, 0},
    {"ml.c4.2xlarge", 8, 15, 0},
    {"ml.c4.4xlarge", 16, 30, 0},
    {"ml.c4.8xlarge", 36, 60, 0},
    {"ml.c5.large", 2, 4, 0},
    {"ml.c5.xlarge", 4, 8, 0},
    {"ml.c5.2xlarge", 8, 16, 0},
    {"ml.c5.4xlarge", 16, 32, 0},
    {"ml.c5.9xlarge", 36, 72, 0},
    {"ml.c5.18xlarge", 72, 144, 0},
    {"ml.r5.large", 2, 16, 0},
    {"ml.r5.xlarge", 4, 32, 0},
    {"ml.r5.2xlarge", 8, 64, 0},
    {"ml.r5.4xlarge", 16, 128, 0},
    {"ml.t2.medium", 2, 4, 0},
    {"ml.t2.large", 2, 8, 0},
    {"ml.t2.xlarge", 4, 16, 0},
    {"ml.t3.medium", 2, 4, 0},
    {"ml.t3.large", 2, 8, 0},
    {"ml.t3.xlarge", 4, 16, 0},
    {"ml.p2.xlarge", 4, 61, 1},
    {"ml.p2.8xlarge", 32, 488, 8},
    {"ml.p3.2xlarge", 8, 61, 1},
    {"ml.p3.8xlarge", 32, 244, 4},
    {"ml.p3.16xlarge", 64, 488, 8},
    {"ml.g4dn.xlarge", 4, 16, 1},
    {"ml.g4dn.2xlarge", 8, 32, 1},
    {"ml.g4dn.12xlarge", 48, 192, 4},
    {"ml.g5.xlarge", 4, 16, 1},
    {"ml.g5.2xlarge", 8, 32, 1},
};

const struct instance_type *instance_find(const char *name)
{
    for (size_t i = 0; name && i < KILN_ARRAY_LEN(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

void instance_each(void (*fn)(void *ctx, const struct instance_type *t),
                   void *ctx)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(types); i++)
        fn(ctx, &types[i]);
}
