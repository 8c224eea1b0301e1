/*
 * rsh.h - what SageMaker's MPI containers use SSH for, between the
 * sandboxes of one job: mpirun on the first instance starts Open MPI's
 * daemon (orted) on each other instance through its remote-shell agent
 * (plm_rsh_agent), which is `kiln rsh`; each other instance runs `kiln
 * rshd` instead of the entry point, as the training toolkit's workers
 * run sshd and wait for orted.
 *
 * The request, on TCP to the instance's address at RSH_PORT:
 *
 *     KILN-RSH 1 <token> <length>\n<command>
 *
 * The token is the job's (a file bound into every sandbox; compared in
 * constant time), the command what ssh would hand the remote shell: the
 * agent's arguments joined by spaces, run with `/bin/sh -c`. Its output
 * goes to the server's own (the instance's log); the answer is its exit
 * status as a decimal line once it ends. The server serves one command,
 * waits for what it left running (orted daemonizes; the server adopts it
 * as the children's subreaper), then exits 0, as the toolkit's worker
 * does when orted ends; SIGTERM makes it stop them all and exit 0, a
 * closed connection (mpirun gone) stops the command. The client exits with the
 * command's status, or 255 (ssh's) when it cannot reach the server or is
 * refused.
 */
#ifndef KILN_JOBS_RSH_H
#define KILN_JOBS_RSH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Where kiln binds itself and the job's token inside the sandboxes. */
#define RSH_KILN       "/kiln/kiln"
#define RSH_TOKEN_FILE "/kiln/rsh-token"

#define RSH_PORT      6022
#define RSH_TOKEN_LEN 64          /* hex characters */
#define RSH_CMD_MAX   (64 * 1024) /* bytes of a command */

/* A new random token: RSH_TOKEN_LEN hex characters and a NUL in out.
 * False when the system has no randomness to give. */
bool rsh_token_new(char out[RSH_TOKEN_LEN + 1]);

/* The request for argv[0..argc) (joined by spaces), appended to out;
 * false (out unusable) when that command is empty or longer than
 * RSH_CMD_MAX. */
bool rsh_request(const char *token, int argc, char **argv, struct buf *out);

/*
 * Reads a request from the start of in[0..len): 1 with the command (a
 * new string, mem_free) in *cmd when it is whole and the token matches;
 * 0 when more bytes are needed; -1 when it is malformed, too long or the
 * token is wrong.
 */
int rsh_parse(const char *in, size_t len, const char *token, char **cmd);

/* `kiln rsh HOST COMMAND...` and `kiln rshd HOST`, with the token read
 * from token_file: the process's exit code. */
int rsh_client(const char *token_file, const char *host, int argc, char **argv);
int rsh_server(const char *token_file, const char *host);

#endif
