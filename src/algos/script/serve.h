/*
 * serve.h - the model server of script-mode models: what the inference
 * toolkit of SageMaker's framework images (the scikit-learn container's
 * sagemaker_containers) does with a user's entry point, done by kiln with
 * CPython embedded.
 *
 * Loading imports the entry point (SAGEMAKER_PROGRAM) from the code
 * directory and calls its model_fn(model_dir), which the framework
 * requires. Each POST /invocations then runs the user's
 * transform_fn(model, body, content_type, accept) if the module has one,
 * else input_fn(body, content_type) -> predict_fn(data, model) ->
 * output_fn(prediction, accept), each the toolkit's default when the
 * module does not define it:
 *
 *   input_fn    application/json -> numpy.array(json.loads(body)),
 *               text/csv -> numpy.genfromtxt(..., delimiter=","), both as
 *               float32; application/x-npy -> numpy.load (no pickles);
 *               anything else 415
 *   predict_fn  model.predict(data)
 *   output_fn   application/json (json.dumps of tolist()), text/csv
 *               (numpy.savetxt, delimiter ","), application/x-npy
 *               (numpy.save); anything else 406
 *
 * The body reaches input_fn and transform_fn as str for JSON and CSV and
 * as bytes otherwise. A missing Accept, or one of wildcards only, means
 * default_accept (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT), else
 * application/json. A user
 * function may return bytes or str, or a (body, content_type) pair. An
 * exception is a 500 whose body is its last line ("ValueError: ..."), with
 * the traceback on stderr.
 *
 * The interpreter is process-wide: script_model_load once per process.
 * script_invoke may be called from any thread; calls take Python's GIL
 * in turn.
 */
#ifndef KILN_ALGOS_SCRIPT_SERVE_H
#define KILN_ALGOS_SCRIPT_SERVE_H

#include "base/buf.h"
#include "base/err.h"

/*
 * Starts Python, imports `program` (e.g. "train.py", a module of
 * code_dir) and calls its model_fn(model_dir). KILN_EINVAL with Python's
 * message when any of it fails.
 */
int script_model_load(const char *code_dir, const char *program,
                      const char *model_dir, const char *default_accept,
                      struct kiln_diag *d);

/* Answers one POST /invocations, as kmeans_invoke does; *out_type is
 * written to type (size bytes). */
void script_invoke(const char *content_type, const char *accept,
                   const void *body, size_t len, int *status, struct buf *out,
                   char *type, size_t size);

/*
 * The request's media type (parameters dropped, lower case; none means
 * application/json) into ctype, and the answer's into atype: Accept's
 * first media range without a wildcard, else default_accept. Both size
 * bytes. Pure: fuzzed with the k-means server's requests.
 */
void script_negotiate(const char *content_type, const char *accept,
                      const char *default_accept, char *ctype, char *atype,
                      size_t size);

/* Takes the GIL back for good before the process exits (no finalizing:
 * the process ends right after). */
void script_model_stop(void);

#endif
