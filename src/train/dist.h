/* Data-parallel training across processes (docs/distributed.md).
 *
 * Every rank holds the whole model and the same parameters; each reads its
 * shard of every global batch, and the gradients are summed across ranks
 * before the (identical) update. This is the only interface the rest of the
 * code sees: built with MPI (CMake option LPS_MPI) it talks to
 * MPI_COMM_WORLD, built without it, or started without mpirun, it is one
 * process of rank 0 in a world of 1 and every collective returns at once
 * with the data unchanged, so a single process behaves exactly as a build
 * without MPI.
 *
 * MPI's state is the process's: the calls query it, nothing is cached. */
#ifndef LPS_TRAIN_DIST_H
#define LPS_TRAIN_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/engine.h"
#include "lpsparsify/error.h"

/* Joins the MPI job when the build has MPI and a launcher (mpirun) started
 * the process (argc/argv as main received them); started by hand it stays
 * a world of one without initialising MPI. LPS_ERR_RUNTIME when MPI cannot
 * start. Call once, first thing. */
lps_status lps_dist_init(int *argc, char ***argv, lps_error *err);

/* Leaves the MPI job after a successful run (all ranks must call it). */
void lps_dist_finalize(void);

/* Ends every rank of the job with exit status code: MPI_Abort when there is
 * more than one rank. Returns (doing nothing) in a world of one, so the
 * caller then returns code as usual. */
void lps_dist_abort(int code);

/* This process's rank (0 without MPI) and the number of ranks (1). */
int lps_dist_rank(void);
int lps_dist_size(void);

/* Whether the build can run distributed (LPS_MPI). */
bool lps_dist_built(void);

/* Copies bytes of root's buf into every rank's buf. LPS_ERR_RUNTIME naming
 * what on an MPI failure. */
lps_status lps_dist_broadcast(void *buf, size_t bytes, int root, const char *what,
                              lps_error *err);

/* Sums x over ranks in place: every rank gets the same sums (one
 * MPI_Allreduce per 2^30 elements). */
lps_status lps_dist_sum_floats(float *x, size_t n, lps_error *err);
lps_status lps_dist_sum_doubles(double *x, size_t n, lps_error *err);

/* What a training step adds to the epoch's sums, and whether it diverged,
 * summed over ranks by lps_dist_reduce_step (doubles: one buffer). */
typedef struct lps_dist_step {
    double loss_sum;   /* loss times samples */
    double correct;    /* top-1 hits */
    double samples;
    double diverged;   /* ranks whose loss was not finite */
    double stop;       /* ranks asked to stop (SIGINT/SIGTERM): all stop here */
} lps_dist_step;

/* Turns every rank's gradient of its mean loss over `count` samples into
 * the gradient of the mean over the `global` samples of the global batch
 * (scaled by count / global, then summed: the same as one process over the
 * whole batch, up to float summation order) and sums s. Two MPI_Allreduce
 * calls, the gradients in one fused buffer (the plan's flat gradient). In a
 * world of one, g and s are left as they are. */
lps_status lps_dist_reduce_step(float *g, size_t n, int64_t count, int64_t global,
                                lps_dist_step *s, lps_error *err);

/* Folds bytes into the running hash h (start from LPS_DIST_HASH_INIT). */
#define LPS_DIST_HASH_INIT 0xcbf29ce484222325u
uint64_t lps_dist_hash(uint64_t h, const void *data, size_t bytes);

/* LPS_OK when every rank passed the same hash; otherwise LPS_ERR_RUNTIME on
 * every rank, "the ranks' WHAT differ at step S" (a divergence: different
 * thread counts or libraries across nodes, docs/distributed.md). */
lps_status lps_dist_check_same(uint64_t hash, const char *what, int64_t step, lps_error *err);

/* Averages over ranks the state m's BatchNorm nodes keep (running mean and
 * variance, each rank's moved by its own batches): the running statistics
 * are linear in the batch means, so averaging them once per epoch equals
 * averaging every step. A no-op in a world of one. */
lps_status lps_dist_average_state(const lps_plan *p, lps_model *m, lps_error *err);

/* lps_dist_check_same on the hash of p's flat parameters folded with
 * `extra` (the sparsifier's masks): "weights and masks" naming step. */
lps_status lps_dist_check_params(lps_plan *p, uint64_t extra, int64_t step, lps_error *err);

#endif
