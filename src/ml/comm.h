/*
 * comm.h - the few collectives a distributed built-in needs, over Open
 * MPI. A process started by kiln's launcher (KILN_MPI=1 from mpirun) is
 * one rank of the job; any other process is a world of one, where every
 * collective is a no-op and MPI is never initialised (MPI_Init outside
 * mpirun would spawn a daemon of its own).
 *
 * Every call is collective: all ranks make it in the same order. A comm
 * is owned by the algorithm's main thread. Time spent inside collectives
 * is added up in `seconds`, so an algorithm can report communication
 * against compute.
 */
#ifndef KILN_ML_COMM_H
#define KILN_ML_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct comm {
    int rank, size; /* 0 and 1 outside MPI */
    bool mpi;       /* MPI was initialised (and must be finalised) */
    double seconds; /* spent in collectives */
    size_t calls;   /* collectives made */
    size_t bytes;   /* payload sent by this rank, in bytes */
};

/* Joins the MPI job when use_mpi, else makes a world of one. */
int comm_init(struct comm *c, bool use_mpi, struct kiln_diag *d);

/* In-place elementwise sum of buf[0..n) over all ranks. */
int comm_sum(struct comm *c, double *buf, size_t n);

/* Copies root's buf[0..n) floats / doubles to every rank. */
int comm_bcast_floats(struct comm *c, float *buf, size_t n, int root);
int comm_bcast_doubles(struct comm *c, double *buf, size_t n, int root);

/* Ends every rank of the job with status (a failed rank). Returns only
 * outside MPI. */
void comm_abort(struct comm *c, int status);

/* Leaves the MPI job (after the last collective). In sanitizer builds
 * first checks the rank for leaks: KILN_EINTERNAL when it found some
 * (the report is on stderr). */
int comm_finish(struct comm *c);

#endif
