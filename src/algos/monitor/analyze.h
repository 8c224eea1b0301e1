/*
 * analyze.h - `kiln algo model-monitor analyze`, the entry point of the
 * built-in Model Monitor analyzer image (see analyze.c for its
 * environment). One call per process.
 */
#ifndef KILN_ALGOS_MONITOR_ANALYZE_H
#define KILN_ALGOS_MONITOR_ANALYZE_H

/*
 * Suggests a baseline (statistics.json, constraints.json) or checks a
 * dataset against one (statistics.json, constraint_violations.json), as
 * the environment says. Container paths are taken under root (NULL: as
 * they are). Returns the exit status: 0, 2 for the user's error, 1.
 */
int monitor_analyze(const char *root);

#endif
