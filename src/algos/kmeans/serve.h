/*
 * serve.h - the K-Means model server's request handling
 * (kmeans-and-recordio.md §6): rows in text/csv, application/json,
 * application/jsonlines or application/x-recordio-protobuf (dense or
 * sparse; float32, float64 or int32); per row the closest cluster and the
 * Euclidean distance to it, answered by Accept as application/json (the
 * default), application/jsonlines, application/x-recordio-protobuf or
 * text/csv: of the media ranges Accept lists (wildcards too), the one with
 * the highest q, the first among equals. Bad rows are 400 with a message,
 * unknown content types 415, unknown Accept 406, as the real container answers.
 *
 * The HTTP part (GET /ping, POST /invocations on the socket the host
 * gives) lives in cmd/algo.c; this module is bytes in, bytes out. A loaded
 * model is read-only, so any number of threads may serve it at once.
 */
#ifndef KILN_ALGOS_KMEANS_SERVE_H
#define KILN_ALGOS_KMEANS_SERVE_H

#include "base/buf.h"
#include "base/err.h"

struct kmeans_model {
    size_t k, d;
    float *centers; /* k x d */
    float *cnorm;   /* k squared norms */
};

/* Loads <model_dir>/model_algo-1. */
int kmeans_model_load(const char *model_dir, struct kmeans_model *m,
                      struct kiln_diag *d);
void kmeans_model_release(struct kmeans_model *m);

/*
 * Answers one POST /invocations: sets *status and the response body and
 * content type (a static string); on 4xx the body is the error message.
 */
void kmeans_invoke(const struct kmeans_model *m, const char *content_type,
                   const char *accept, const void *body, size_t len,
                   int *status, struct buf *out, const char **out_type);

#endif
