/*
 * cmd.h - kiln's subcommands (STYLE.md K10: a table in main.c).
 *
 * Each takes the arguments after its own name and returns the process exit
 * status. Primary output goes to stdout, chatter and errors to stderr.
 */
#ifndef KILN_CMD_H
#define KILN_CMD_H

#include "base/err.h"
#include "cmd/config.h"

int cmd_server(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_algo(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* The built-in algorithms: the name `kiln algo NAME` runs, and the metric
 * definitions (name, regex) its documentation gives. */
struct cmd_builtin {
    const char *name;
    const char *metrics[5][2];
};

/* The built-in an image names: "kmeans", "kmeans:1" or
 * "<account>.dkr.ecr.<region>.amazonaws.com/kmeans:1"; NULL if none. */
const struct cmd_builtin *cmd_builtin_for(const char *image);

/* SIGINT/SIGTERM: install handlers, then block until one arrives (returns
 * its number), then restore the defaults. */
int cmd_signals_setup(void);
int cmd_signals_wait(void);
void cmd_signals_release(void);

/*
 * Shared by server and admin: creates the data directory if needed and
 * opens its metadata store.
 */
struct meta;
int cmd_open_data_dir(const struct kiln_config *c, struct meta **out,
                      struct kiln_diag *d);

/* Makes a new random key pair for `account` and user `user`. */
struct meta_key;
void cmd_new_key(const char *account, const char *user, struct meta_key *k);

/* Writes the AWS shared-credentials file <data-dir>/credentials (0600)
 * with profile [kiln] for k. */
int cmd_write_credentials(const char *data_dir, const struct meta_key *k,
                          struct kiln_diag *d);

#endif
