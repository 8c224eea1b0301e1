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
    int master_port; /* MASTER_PORT and torchrun's; 0: the toolkit's 7777 */
};

/* True when the hyper-parameters name an entry point (sagemaker_program),
 * i.e. the job is a framework estimator's script-mode job. */
bool toolkit_is_script(json_t *hyperparameters);

/*
 * The framework hyper-parameter that asks the toolkit for a distributed
 * launcher (the SDK's `distribution`: sagemaker_mpi_enabled,
 * sagemaker_torch_distributed_enabled, ...) when one is true, else NULL.
 */
const char *toolkit_launcher(json_t *hyperparameters);

/* The launchers toolkit_command starts: TOOLKIT_TORCHRUN (torchrun on
 * every host of the distribution's instance groups, as the toolkit's
 * TorchDistributedRunner does) and TOOLKIT_MPI (mpirun on the first of
 * them, `kiln rshd` on the others, as its MPI MasterRunner and
 * WorkerRunner do with sshd; see rsh.h). */
#define TOOLKIT_TORCHRUN "sagemaker_torch_distributed_enabled"
#define TOOLKIT_MPI      "sagemaker_mpi_enabled"
bool toolkit_launcher_supported(const char *launcher);

/*
 * The decoded value of framework hyper-parameter `name` as text (a new
 * string, mem_free), or NULL when absent or not text: e.g. the S3 URI of
 * sagemaker_submit_directory.
 */
char *toolkit_param(json_t *hyperparameters, const char *name);

/*
 * Appends to argv the entry point's command (relative to the code
 * directory, which is the working directory), to env the toolkit's
 * variables. With a supported launcher, on a host of the distribution's
 * instance groups, the command is the launcher's: `python -m
 * torch.distributed.run --nnodes N --nproc_per_node P --master_addr
 * <first distribution host> --master_port <port> --node_rank <i>
 * <entry point> <args>`, P being sagemaker_mpi_num_of_processes_per_host
 * or 1 (no GPUs); or for MPI, on the first host `mpirun --host
 * algo-1[:P],... -np <sagemaker_mpi_num_processes or hosts x P> <the
 * toolkit's options> -mca plm_rsh_agent "RSH_KILN rsh" -x SM_... python
 * -m mpi4py <entry point> <args>`, on the others `RSH_KILN rshd <host>`.
 * KILN_EINVAL with a ClientError message when the entry point is not a
 * plain relative file name, not a Python file for torchrun, or the
 * process counts are not whole numbers in range.
 */
int toolkit_command(const struct toolkit_job *j, struct strv *argv,
                    struct strv *env, struct kiln_diag *d);

/*
 * True when a line of the entry point's output reports a Python exception
 * ("ValueError: ...", "torch.distributed....ChildFailedError:"): a dotted
 * name whose last part ends in "Error" or is or ends in "Exception",
 * then a colon, at the line's start (after mpirun's tag, if any). The
 * toolkit's ErrorMessage is made of such lines.
 */
bool toolkit_error_line(const char *line, size_t len);

/* Python's str() of a decoded value, appended to out (for tests). */
void toolkit_py_str(json_t *v, struct buf *out);

#endif
