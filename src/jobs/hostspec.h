/*
 * hostspec.h - a training host on a cluster machine that shares no file
 * system with the server. The server writes one JSON spec per host into
 * the object store and hands that host's rank a presigned URL of it
 * (KILN_HOST_SPEC); the rank fetches the spec, builds its own container
 * tree in a temporary directory, downloads every object the spec lists
 * with presigned GETs (libcurl, streamed to disk), runs the algorithm on
 * that tree, and sends its results back with presigned PUTs.
 *
 * The spec:
 *   {"resourceconfig": {...}, "hyperparameters": {...},
 *    "inputdataconfig": {...},
 *    "channels": {"<name>": [{"path": "<relative>", "url": "<GET>"}]},
 *    "failure_url": "<PUT>",
 *    "model_url": "<PUT>", "output_url": "<PUT>"}   (the first host only)
 *
 * Rank side: hostspec_fetch(), hostspec_report(), hostspec_release().
 * Server side: the spec's member names and hostspec_staging_key().
 */
#ifndef KILN_JOBS_HOSTSPEC_H
#define KILN_JOBS_HOSTSPEC_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"

struct hostspec_tree {
    char root[4096];   /* the temporary tree */
    char input[4200];  /* <root>/input */
    char model[4200];  /* <root>/model */
    char output[4200]; /* <root>/output */
    json_t *spec;
};

/*
 * Fetches the spec at url and builds the host's tree under tmpdir:
 * input/config/{resourceconfig,hyperparameters,inputdataconfig}.json,
 * input/data/<channel>/<path> for every listed
 * object, model/ and output/data/. KILN_EIO (with the URL's host and the
 * HTTP status) when a download fails; KILN_EINVAL for a malformed spec.
 * On error the tree may exist: hostspec_release() removes it.
 */
int hostspec_fetch(const char *url, const char *tmpdir, struct hostspec_tree *t,
                   struct kiln_diag *d);

/*
 * After the algorithm: a failed host PUTs its output/failure (when it
 * wrote one) to failure_url; a successful first host PUTs model/ and
 * output/data/ as .tar.gz to model_url and output_url.
 */
int hostspec_report(struct hostspec_tree *t, bool failed, struct kiln_diag *d);

/* Removes the tree and frees the spec. */
void hostspec_release(struct hostspec_tree *t);

/* The object key of a host's staged file: <prefix>kiln-hosts/algo-<n>/<name>.
 */
void hostspec_staging_key(const char *prefix, int host, const char *name,
                          struct buf *out);

#endif
