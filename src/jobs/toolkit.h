/*
 * toolkit.h - script mode: what the sagemaker-training-toolkit inside
 * SageMaker's framework images does between the container's start and the
 * user's entry point, done by kiln for the host's Python.
 *
 * From the job's config files (hyperparameters.json, resourceconfig.json,
 * inputdataconfig.json) it derives the entry point's command line, the
 * user hyper-parameters as `--name value` arguments in name order, and
 * the SM_* environment the toolkit documents (SM_MODEL_DIR,
 * SM_CHANNEL_<NAME>, SM_HPS, SM_HP_<NAME>, SM_TRAINING_ENV, ...), with
 * paths as the sandbox shows them (SANDBOX_ROOT). As the toolkit does,
 * every hyper-parameter value is JSON-decoded when it can be (the SDK
 * JSON-encodes them) and kept as text when not; `sagemaker_*` names and
 * `_tuning_objective_metric` are the framework's, not the script's.
 * Arguments are Python's str() of each value (True, 0.001, ['a', 'b'],
 * k=v,k2=v2 for a map); variables hold strings as they are and other
 * values as compact JSON with sorted keys. Pure functions, any thread.
 */
#ifndef KILN_JOBS_TOOLKIT_H
#define KILN_JOBS_TOOLKIT_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/strv.h"

struct toolkit_job {
    json_t *hyperparameters;   /* hyperparameters.json: name -> string */
    json_t *resource_config;   /* resourceconfig.json */
    json_t *input_data_config; /* inputdataconfig.json */
    const char *job_name;
    const char *python; /* the interpreter of .py entry points */
    int cpus;
};

/* True when the hyper-parameters name an entry point (sagemaker_program),
 * i.e. the job is a framework estimator's script-mode job. */
bool toolkit_is_script(json_t *hyperparameters);

/*
 * The framework hyper-parameter that asks the toolkit for a distributed
 * launcher (the SDK's `distribution`: sagemaker_mpi_enabled,
 * sagemaker_torch_distributed_enabled, ...) when one is true, else NULL.
 * kiln runs the entry point on every instance itself and starts none of
 * them (mpirun over SSH, torchrun, parameter servers).
 */
const char *toolkit_launcher(json_t *hyperparameters);

/*
 * The decoded value of framework hyper-parameter `name` as text (a new
 * string, mem_free), or NULL when absent or not text: e.g. the S3 URI of
 * sagemaker_submit_directory.
 */
char *toolkit_param(json_t *hyperparameters, const char *name);

/*
 * Appends to argv the entry point's command (relative to the code
 * directory, which is the working directory), to env the toolkit's
 * variables. KILN_EINVAL with a ClientError message when the entry point
 * is not a plain relative file name.
 */
int toolkit_command(const struct toolkit_job *j, struct strv *argv,
                    struct strv *env, struct kiln_diag *d);

/* Python's str() of a decoded value, appended to out (for tests). */
void toolkit_py_str(json_t *v, struct buf *out);

#endif
