/*
 * fuzz_toolkit.c - script mode's reading of a job's HyperParameters (each
 * value JSON-decoded when it parses, then turned into arguments with
 * Python's str() and into SM_* variables) and the sandbox command line
 * built from it, torchrun's among them; and the test for an exception's
 * line of output. The input is the HyperParameters map as JSON; values
 * that are not strings are made strings, as the API guarantees.
 */
#include "fuzz.h"
#include "jobs/sandbox.h"
#include "jobs/toolkit.h"

#include <stdlib.h>

#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    json_t *hps = json_object(), *v;
    const char *k;

    if (!json_is_object(in)) {
        json_decref(in);
        json_decref(hps);
        return 0;
    }
    json_object_foreach(in, k, v)
    {
        if (json_is_string(v)) {
            json_object_set(hps, k, v);
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            json_object_set_new(hps, k, json_string(s ? s : ""));
            free(s); /* jansson's allocation; checksrc: allow */
        }
    }
    json_t *res = json_pack(
        "{s:s, s:s, s:s, s:[s,s], s:[{s:s, s:[s]}, {s:s, s:[s]}], s:s}",
        "current_host", "algo-1", "current_instance_type", "ml.m5.large",
        "current_group_name", "a", "hosts", "algo-1", "algo-2",
        "instance_groups", "instance_group_name", "a", "hosts", "algo-1",
        "instance_group_name", "b", "hosts", "algo-2", "network_interface_name",
        "lo");
    json_t *inputs = json_pack("{s:{}}", "train");
    struct toolkit_job j = {.hyperparameters = hps,
                            .resource_config = res,
                            .input_data_config = inputs,
                            .job_name = "fuzz",
                            .python = "/usr/bin/python3",
                            .cpus = 1};
    struct strv argv = STRV_INIT, env = STRV_INIT;
    struct kiln_diag d = {0};
    char *submit = toolkit_param(hps, "sagemaker_submit_directory");
    mem_free(submit);
    (void)toolkit_launcher_supported(toolkit_launcher(hps));
    (void)toolkit_error_line((const char *)data, size);
    if (toolkit_is_script(hps) && toolkit_command(&j, &argv, &env, &d) == 0) {
        struct sandbox_plan plan = {.bwrap = "/usr/bin/bwrap",
                                    .tree = "/j/algo-1",
                                    .hostname = "algo-1",
                                    .cmd = strv_argv(&argv)};
        char **out = NULL;
        if (sandbox_argv(&plan, &out) == 0)
            strv_free_argv(out);
    }
    strv_release(&argv);
    strv_release(&env);
    json_decref(res);
    json_decref(inputs);
    json_decref(hps);
    json_decref(in);
    return 0;
}
