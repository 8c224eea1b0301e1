/*
 * instances.h - the SageMaker ML instance types kiln accepts, with the
 * vCPUs and memory each stands for. kiln derives a job's thread count
 * and limits from them and meters usage per instance. Read-only table;
 * any thread.
 */
#ifndef KILN_INSTANCES_H
#define KILN_INSTANCES_H

#include "base/kiln.h"

struct instance_type {
    const char *name; /* "ml.m5.xlarge" */
    int vcpus;
    int memory_gib;
    int gpus;
};

/* The type called `name`, or NULL. */
const struct instance_type *instance_find(const char *name);

/* Calls fn for every type, in table order. */
void instance_each(void (*fn)(void *ctx, const struct instance_type *t),
                   void *ctx);

#endif
