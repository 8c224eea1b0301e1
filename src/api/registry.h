/*
 * registry.h - the model registry of the SageMaker control plane: model
 * package groups, and the model packages in them, numbered 1, 2, ... in
 * each group as they are registered (versioned), or named on their own
 * (unversioned). A package's approval status (PendingManualApproval,
 * Approved, Rejected) is what a release process reads and sets; a model
 * created from a package (CreateModel with a container's
 * ModelPackageName, as the SageMaker Python SDK's ModelPackage.deploy()
 * does) serves its inference container. Groups and packages are meta_res
 * documents of types "model-package-group" and "model-package", the
 * latter named "<group>/<version>" when versioned. Handlers follow
 * api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_REGISTRY_H
#define KILN_API_REGISTRY_H

#include "api/dispatch.h"

#define REGISTRY_OPS(X)                                                        \
    X(CreateModelPackageGroup, registry_create_group)                          \
    X(DescribeModelPackageGroup, registry_describe_group)                      \
    X(ListModelPackageGroups, registry_list_groups)                            \
    X(DeleteModelPackageGroup, registry_delete_group)                          \
    X(CreateModelPackage, registry_create_package)                             \
    X(DescribeModelPackage, registry_describe_package)                         \
    X(ListModelPackages, registry_list_packages)                               \
    X(UpdateModelPackage, registry_update_package)                             \
    X(DeleteModelPackage, registry_delete_package)

#define REGISTRY_DECLARE(op, fn)                                               \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
REGISTRY_OPS(REGISTRY_DECLARE)
#undef REGISTRY_DECLARE

/* The inference container of model package `ref` (its name, "<group>/<n>"
 * or ARN): a new reference to a copy of its first container, or
 * KILN_EVALIDATION when there is no such package. */
int registry_container(const struct api_ctx *c, const char *ref, json_t **out,
                       struct kiln_diag *d);

#endif
