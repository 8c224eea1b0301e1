/*
 * train.h - `kiln algo kmeans train`: SageMaker's training-container
 * contract for the built-in K-Means (kmeans-and-recordio.md §3.3, §3.4):
 * reads the channel data and configuration, trains, writes
 * <model>/model_algo-1, logs the real container's metric lines, and on
 * error writes <output>/failure and exits non-zero.
 */
#ifndef KILN_ALGOS_KMEANS_TRAIN_H
#define KILN_ALGOS_KMEANS_TRAIN_H

#include "algos/algo.h"

/* Runs one training; returns the process exit status. */
int kmeans_train(const struct algo_args *a);

#endif
