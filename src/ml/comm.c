/*
 * comm.c - collectives over Open MPI (see comm.h). Large buffers go in
 * pieces of at most INT_MAX elements, MPI's count type.
 */
#include "ml/comm.h"

#include <limits.h>
#include <mpi.h>

#include "base/tm.h"

int comm_init(struct comm *c, bool use_mpi, struct kiln_diag *d)
{
    *c = (struct comm){.rank = 0, .size = 1};
    if (!use_mpi)
        return 0;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return diag_set(d, KILN_EIO, "cannot join the MPI job");
    c->mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    return 0;
}

enum op { OP_SUM, OP_BCAST };

/* One collective over buf[0..n) in pieces of at most INT_MAX elements,
 * timed and counted. */
static int collective(struct comm *c, enum op op, void *buf, size_t n,
                      size_t elem, MPI_Datatype type, int root)
{
    double t0 = tm_monotonic();
    int rc = MPI_SUCCESS;

    if (c->size == 1)
        return 0;
    for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += INT_MAX) {
        size_t part = n - off < INT_MAX ? n - off : INT_MAX;
        char *p = (char *)buf + off * elem;
        rc = op == OP_SUM ? MPI_Allreduce(MPI_IN_PLACE, p, (int)part, type,
                                          MPI_SUM, MPI_COMM_WORLD)
                          : MPI_Bcast(p, (int)part, type, root, MPI_COMM_WORLD);
    }
    c->seconds += tm_monotonic() - t0;
    c->calls++;
    c->bytes += op == OP_SUM || c->rank == root ? n * elem : 0;
    return rc == MPI_SUCCESS ? 0 : KILN_EIO;
}

int comm_sum(struct comm *c, double *buf, size_t n)
{
    return collective(c, OP_SUM, buf, n, sizeof(double), MPI_DOUBLE, 0);
}

int comm_bcast_floats(struct comm *c, float *buf, size_t n, int root)
{
    return collective(c, OP_BCAST, buf, n, sizeof(float), MPI_FLOAT, root);
}

int comm_bcast_doubles(struct comm *c, double *buf, size_t n, int root)
{
    return collective(c, OP_BCAST, buf, n, sizeof(double), MPI_DOUBLE, root);
}

void comm_abort(struct comm *c, int status)
{
    if (c->mpi && c->size > 1)
        MPI_Abort(MPI_COMM_WORLD, status);
}

#ifdef KILN_SANITIZED
int __lsan_do_recoverable_leak_check(void);
#endif

int comm_finish(struct comm *c)
{
    int leaks = 0;
    if (!c->mpi)
        return 0;
#ifdef KILN_SANITIZED
    /* A rank's own leaks are looked for here, while Open MPI's memory is
     * still in use: what it leaves at exit (some from components already
     * unloaded, past naming in a suppression) is not kiln's. The ranks
     * run with leak_check_at_exit=0 (trainer.c). */
    leaks = __lsan_do_recoverable_leak_check();
#endif
    MPI_Finalize();
    c->mpi = false;
    return leaks ? KILN_EINTERNAL : 0;
}
