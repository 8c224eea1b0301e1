/*
 * fuzz_rsh.c - kiln rshd's reading of a request from the network (the
 * header, the token compared in constant time, the command's length and
 * bytes), with the token of the seeds: 64 times 'a'. Every prefix of the
 * input is read too, as the server reads a request in pieces.
 */
#include "fuzz.h"
#include "jobs/rsh.h"

#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char token[RSH_TOKEN_LEN + 1];
    char *cmd = NULL;
    int whole;

    memset(token, 'a', RSH_TOKEN_LEN);
    token[RSH_TOKEN_LEN] = '\0';
    whole = rsh_parse((const char *)data, size, token, &cmd);
    if (whole == 1 && (!cmd || strlen(cmd) == 0 || strlen(cmd) > RSH_CMD_MAX))
        abort();
    mem_free(cmd);
    /* A request read whole is never "whole" earlier. */
    for (size_t n = 0; whole == 1 && n < size; n += 1 + n / 8) {
        cmd = NULL;
        if (rsh_parse((const char *)data, n, token, &cmd) == 1)
            abort();
        mem_free(cmd);
    }
    return 0;
}
