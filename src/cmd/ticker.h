/*
 * ticker.h - a thread that calls a function every few seconds until it is
 * stopped: the round of the autoscaler and of the monitoring scheduler.
 * ticker_stop() wakes the thread, waits for the round in progress to end
 * and frees it. Any thread.
 */
#ifndef KILN_CMD_TICKER_H
#define KILN_CMD_TICKER_H

#include "base/err.h"

struct ticker;

/* Calls fn(ctx) now and then every `seconds`; KILN_EIO when no thread. */
int ticker_start(int seconds, void (*fn)(void *ctx), void *ctx,
                 struct ticker **out, struct kiln_diag *d);
void ticker_stop(struct ticker *t);

#endif
