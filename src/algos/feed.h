/*
 * feed.h - the batches an algorithm's epochs read from a training
 * dataset, with read-ahead and replay.
 *
 * Read-ahead: a thread of the feed parses the next batch while the caller
 * computes on the current one, into a second buffer, so the cores that
 * compute are not kept waiting by a parse that can only run on one.
 *
 * Replay: with keep set (several epochs over files), epoch 0 reads each
 * batch into a buffer of its own and keeps it while the total stays
 * within the budget; the later epochs then replay the batches exactly as
 * they were read, from memory. Over budget, or out of memory, the kept
 * batches are dropped and every epoch reads the files again.
 *
 * The first batch can be read before epoch 0 (feed_first, to seed a
 * model); it is then also epoch 0's first batch, and the stream goes on
 * from there. One caller thread.
 */
#ifndef KILN_ALGOS_FEED_H
#define KILN_ALGOS_FEED_H

#include "base/err.h"
#include "formats/dataset.h"

struct feed;

/*
 * A feed over ds (borrowed; NULL: a host with no rows, every batch is
 * empty) in batches of up to max_rows rows of dim floats. keep: replay
 * epoch 0's batches in later epochs, within budget bytes.
 */
struct feed *feed_new(struct dataset *ds, size_t max_rows, size_t dim,
                      bool keep, size_t budget);

/* Reads the first batch ahead of epoch 0: *X (owned by the feed) and
 * *got rows. */
int feed_first(struct feed *f, const float **X, size_t *got,
               struct kiln_diag *d);

/* Starts epoch e (0, 1, ...): rewinds the dataset unless it replays. */
int feed_epoch(struct feed *f, size_t e, struct kiln_diag *d);

/*
 * The next batch of the epoch: *X (owned by the feed, valid until the
 * next call) and *got rows, 0 at the end of the epoch.
 */
int feed_next(struct feed *f, const float **X, size_t *got,
              struct kiln_diag *d);

/* Whether this epoch's batches come from memory. */
bool feed_replaying(const struct feed *f);

/* Stops the read-ahead thread and frees everything; NULL is a no-op. */
void feed_free(struct feed *f);

/* A quarter of the machine's memory: the default budget. */
size_t feed_default_budget(void);

#endif
