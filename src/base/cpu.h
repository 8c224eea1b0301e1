/*
 * cpu.h - a switch for a SIMD path chosen at run time: the CPU is asked
 * once (the probe may also build the path's tables), and tests turn the
 * path off and back on to compare it with the portable one. Any thread:
 * the state is published with release and read with acquire, so a thread
 * that sees it on also sees what the probe built.
 */
#ifndef KILN_CPU_H
#define KILN_CPU_H

#include "base/kiln.h"

struct cpu_switch {
    int state;           /* -1: not asked yet; 0: off; 1: on */
    bool (*probe)(void); /* whether the CPU has what the path needs */
};

#define CPU_SWITCH_INIT(probe)                                                 \
    {                                                                          \
        -1, (probe)                                                            \
    }

/* Whether the path is on; asks the CPU the first time. */
static inline bool cpu_switch_on(struct cpu_switch *s)
{
    int v = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (v < 0) {
        v = s->probe() ? 1 : 0;
        __atomic_store_n(&s->state, v, __ATOMIC_RELEASE);
    }
    return v == 1;
}

/* on: 0 turns the path off, 1 back on where the CPU allows, -1 only asks.
 * Returns whether it was on. For tests and benchmarks. */
static inline bool cpu_switch_set(struct cpu_switch *s, int on)
{
    bool was = cpu_switch_on(s);
    if (on == 0)
        __atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
    else if (on > 0)
        __atomic_store_n(&s->state, -1, __ATOMIC_RELEASE);
    return was;
}

#endif
