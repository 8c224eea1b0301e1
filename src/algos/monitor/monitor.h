/*
 * monitor.h - the data-quality analysis of SageMaker Model Monitor: the
 * statistics and constraints of a baseline dataset, and the violations of
 * those constraints by the data an endpoint captured.
 *
 * A table collects columns from CSV rows, either of a dataset (optionally
 * with a header) or of the text/csv requests in data capture files. Each
 * column keeps its counts, sum, extremes, numeric values (for its
 * distribution) and up to MON_MAX_CATEGORIES distinct strings. The
 * documents written follow Model Monitor's formats: statistics.json
 * (features with inferred_type, numerical_statistics with a KLL-style
 * bucket distribution, string_statistics), constraints.json (completeness,
 * is_non_negative, string domains, monitoring_config) and
 * constraint_violations.json (data_type_check, completeness_check,
 * baseline_drift_check, categorical_values_check, missing_column_check,
 * extra_column_check). Baseline documents are read defensively: they
 * come from the user's bucket. One owner per table.
 */
#ifndef KILN_ALGOS_MONITOR_MONITOR_H
#define KILN_ALGOS_MONITOR_MONITOR_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

#define MON_MAX_CATEGORIES 1000
#define MON_MAX_DOMAIN     100 /* distinct strings a domain constraint lists */
#define MON_MAX_COLUMNS    10000
#define MON_BUCKETS        10

struct mon_cat {
    char *value;
    size_t len;
    uint32_t hash; /* of the bytes read, before any UTF-8 repair */
    uint64_t count;
};

struct mon_col {
    char *name;
    uint64_t present, missing; /* missing: empty or absent field */
    uint64_t numeric, integral;
    double sum, sumsq, min, max;
    double *vals; /* numeric values, for the distribution */
    size_t nvals, valcap;
    struct mon_cat *cats;
    size_t ncats, catcap;
    uint32_t *slots;    /* open-addressing index of cats: k + 1, 0 free */
    size_t nslots;      /* a power of two, over twice ncats */
    bool cats_overflow; /* more than MON_MAX_CATEGORIES distinct */
};

struct mon_table {
    struct mon_col *cols;
    size_t ncols;
    bool fixed;        /* columns named in advance (by a baseline) */
    uint64_t rows;     /* rows read */
    size_t max_fields; /* the widest row */
    size_t min_fields; /* the narrowest row */
    uint64_t skipped;  /* capture records not in text/csv, or out of
                          the time window */
};

void mon_table_init(struct mon_table *t);
void mon_table_release(struct mon_table *t);

/* Names the columns in advance, as a baseline's features are. */
void mon_table_names(struct mon_table *t, const char *const *names, size_t n);

/* Reads CSV rows from data[0..len); with header, the first names the
 * columns (unless already named). KILN_EINVAL for a bad row. */
int mon_read_csv(struct mon_table *t, const char *data, size_t len, bool header,
                 struct kiln_diag *d);

/*
 * Reads data capture records (JSON Lines) from data[0..len): the text/csv
 * endpointInput of each record whose eventMetadata.inferenceTime lies in
 * [start, end) (epoch seconds; end <= 0 for no window). KILN_EINVAL for a
 * line that is not a capture record.
 */
int mon_read_capture(struct mon_table *t, const char *data, size_t len,
                     double start, double end, struct kiln_diag *d);

/* statistics.json and constraints.json of the table (new references). */
json_t *mon_statistics(const struct mon_table *t);
json_t *mon_constraints(const struct mon_table *t);

/*
 * The feature names of a baseline statistics.json (NULL-terminated, owned
 * strings; free each and the array), or KILN_EINVAL when it is not one.
 */
int mon_baseline_names(json_t *stats, char ***names, size_t *n,
                       struct kiln_diag *d);

/*
 * constraint_violations.json for the table (read with the baseline's
 * names) against a baseline's statistics and constraints. KILN_EINVAL
 * when the constraints are not a constraints document.
 */
int mon_violations(const struct mon_table *t, json_t *stats, json_t *cons,
                   json_t **out, struct kiln_diag *d);

/*
 * The CloudWatch metrics Model Monitor's container emits for a check of
 * the table against a baseline, per feature the constraints list:
 * feature_data_<name> (numeric features: SampleCount, Sum, Minimum and
 * Maximum of the values), feature_non_null_<name> (the share of rows with
 * a value) and feature_baseline_drift_<name> (the drift distance). An
 * array of PutMetricData datums without Timestamp and Dimensions (a new
 * reference).
 */
json_t *mon_metrics(const struct mon_table *t, json_t *stats, json_t *cons);

#endif
