/*
 * config.h - kiln's settings, all described by one option table (STYLE.md
 * K9): name, type, default, range, environment variable and help.
 *
 * Precedence, lowest first: defaults, the config file (`--config FILE` or
 * KILN_CONFIG), KILN_* environment variables, command-line flags. The same
 * table drives parsing, validation, `kiln config show` and the generated
 * docs. This is the only file that calls getenv(). A struct kiln_config is
 * owned by its caller: config_init() / config_release(). Not thread-safe
 * while being filled; read-only afterwards.
 */
#ifndef KILN_CMD_CONFIG_H
#define KILN_CMD_CONFIG_H

#include "base/buf.h"
#include "base/err.h"

struct kiln_config {
    char *bind;                 /* listen address (IP literal) */
    int port;                   /* listen port; 0 picks a free one */
    char *data_dir;             /* where everything is stored */
    char *region;               /* region in ARNs */
    char *s3_domain;            /* Host suffix of virtual-hosted S3 requests */
    char *account_id;           /* default 12-digit account for new keys */
    char *log_level;            /* debug | info | warn | error */
    int threads;                /* HTTP worker threads; 0 = 2 per CPU */
    char *config_file;          /* file the settings were read from, or NULL */
    int max_jobs;               /* training jobs run at once */
    int max_training_instances; /* a training job's InstanceCount */
    int max_endpoint_instances; /* model servers at once; 0: from memory */
    int stop_grace;             /* seconds between SIGTERM and SIGKILL */
    int keep_job_dirs;          /* 1: leave finished jobs' working trees */
    char *serve_socket;         /* model servers: Unix socket to listen on */
    int serve_port;             /* model servers: else this loopback port */
    char *input_dir;            /* algorithms: /opt/ml/input (SM_INPUT_DIR) */
    char *model_dir;            /* algorithms: /opt/ml/model (SM_MODEL_DIR) */
    char *output_dir;           /* algorithms: /opt/ml/output (SM_OUTPUT_DIR) */
    char *program;              /* script serving: the entry point */
    char *submit_directory;     /* script serving: where it is */
    char *default_accept;       /* script serving: Accept when none */
    int mpi;                    /* algorithms: 1 in a rank of an MPI job */
    char *host_spec;            /* algorithms: URL of a cluster host's spec */
    char *cluster_url; /* training: the server's URL seen from workers */
    char *mpirun;      /* training: the mpirun of multi-instance jobs */
    char *hostfile;    /* training: Open MPI hostfile of the cluster */
    char *mpi_options; /* training: extra mpirun options */
    char *bwrap;       /* training: bubblewrap of script-mode jobs */
    char *python;      /* training: Python of script-mode entry points */
    char *price_list;  /* Cost Explorer: JSON prices per instance-hour */
    /* The Model Monitor analyzer (a processing job's environment). */
    char *processing_root;       /* host directory standing for "/" */
    char *dataset_format;        /* {"csv": ...} or {"sagemakerCaptureJson"} */
    char *dataset_source;        /* the dataset's directory or file */
    char *output_path;           /* where the documents go */
    char *baseline_statistics;   /* with baseline_constraints: check */
    char *baseline_constraints;  /* against this baseline */
    char *start_time, *end_time; /* capture records in [start, end) */
    char *publish_cloudwatch_metrics; /* "Enabled" or "Disabled" */
    char *sagemaker_endpoint_name;    /* the metrics' dimensions */
    char *sagemaker_monitoring_schedule_name;
};

void config_init(struct kiln_config *c);
void config_release(struct kiln_config *c);

/* Sets option `name` from text, validating type and range. */
int config_set(struct kiln_config *c, const char *name, const char *value,
               struct kiln_diag *d);

/* Applies `key = value` lines (# comments, blank lines) from text. */
int config_parse_text(struct kiln_config *c, const char *text, size_t len,
                      const char *origin, struct kiln_diag *d);

/*
 * Fills `c` for a command: defaults, file, environment, then the `--name
 * value` / `--name=value` flags in argv[0..argc). Flags that are not
 * options are left for the caller: their positions are written to rest[]
 * (at most argc) and their count to *nrest.
 */
int config_load(struct kiln_config *c, int argc, char **argv, int *rest,
                int *nrest, struct kiln_diag *d);

/* Appends every option and its current value, one per line. */
void config_show(const struct kiln_config *c, struct buf *out);

/* Appends the options table as Markdown (docs/configuration.md). */
void config_doc(struct buf *out);

#endif
