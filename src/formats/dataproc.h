/*
 * dataproc.h - batch transform's DataProcessing: the InputFilter and
 * OutputFilter JSONPath expressions and JoinSource Input, one record at a
 * time, as SageMaker applies them.
 *
 * A CSV record (ContentType text/csv) is an array of its fields, kept as
 * text; a JSON record is its value. InputFilter selects what goes to the
 * model. With JoinSource Input, the model's answer for a record joins the
 * record as it was read: appended to a CSV row (the answer's CSV fields,
 * or the whole answer as one field when it is not CSV), or added to a
 * JSON object as "SageMakerOutput" (a record that is not an object
 * becomes {"SageMakerInput": record, "SageMakerOutput": answer}).
 * OutputFilter then selects from that, or from the answer alone without a
 * join. Records are written back in the input's format, one per line.
 *
 * The JSONPath subset SageMaker documents: $ then any of .name, .*,
 * ['name', ...], [*], [i, ...] (negative from the end) and [start:end]
 * (either may be left out; a list may mix indexes and slices, "$[0,5:]").
 * A single name or index selects that value; a list, slice or wildcard
 * selects an array of the values (names: an object of the pairs). An
 * index or name that is not there is an error, as in SageMaker.
 */
#ifndef KILN_FORMATS_DATAPROC_H
#define KILN_FORMATS_DATAPROC_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"

struct jsonpath;

/* KILN_EINVAL with the reason for an expression outside the subset. */
int jsonpath_parse(const char *expr, struct jsonpath **out,
                   struct kiln_diag *d);
/* A new reference to what `p` selects from `in`, or KILN_EINVAL. */
int jsonpath_apply(const struct jsonpath *p, json_t *in, json_t **out,
                   struct kiln_diag *d);
void jsonpath_free(struct jsonpath *p);

struct dataproc {
    struct jsonpath *input, *output; /* NULL: "$" */
    bool join;
    bool csv_in;  /* records are CSV rows, else JSON */
    bool csv_out; /* the model answers CSV */
};

/* 0, or KILN_EINVAL naming the bad filter. */
int dataproc_init(struct dataproc *p, const char *input_filter,
                  const char *output_filter, bool join, bool csv_in,
                  bool csv_out, struct kiln_diag *d);
void dataproc_release(struct dataproc *p);

/* Whether answers need dataproc_output (a join or an OutputFilter). */
bool dataproc_rewrites_output(const struct dataproc *p);

/* Appends what the model gets for record rec[0..len) (no newline), and
 * '\n'; KILN_EINVAL for a record the filter cannot take. */
int dataproc_input(const struct dataproc *p, const char *rec, size_t len,
                   struct buf *out, struct kiln_diag *d);

/* Appends the output record for record rec and its answer ans (one line
 * each, no newline), and '\n'; KILN_EINVAL. */
int dataproc_output(const struct dataproc *p, const char *rec, size_t len,
                    const char *ans, size_t alen, struct buf *out,
                    struct kiln_diag *d);

/* CSV fields of one line as a JSON array of strings; KILN_EINVAL for an
 * unterminated quote. */
int dataproc_csv_fields(const char *line, size_t len, json_t **out,
                        struct kiln_diag *d);

#endif
