/* The rank/collective interface of train/dist.h: MPI_COMM_WORLD when built
 * with LPS_MPI and started by mpirun, a world of one otherwise. */
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LPS_HAVE_MPI
#include <mpi.h>
#endif

/* FNV-1a's 64-bit prime, applied per 8-byte word: fast enough to hash every
 * weight at each check (docs/distributed.md, "Divergence checks"). */
#define HASH_PRIME 0x100000001b3u
/* lps_dist_reduce_step sums the step's fields as one array of doubles. */
_Static_assert(sizeof(lps_dist_step) == 5 * sizeof(double), "lps_dist_step is five doubles");

/* Elements per MPI call: MPI counts are int. */
#define MPI_CHUNK ((size_t)1 << 30)

uint64_t lps_dist_hash(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    size_t words = bytes / sizeof(uint64_t);
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, p + i * sizeof w, sizeof w);
        h = (h ^ w) * HASH_PRIME;
    }
    for (size_t i = words * sizeof(uint64_t); i < bytes; i++)
        h = (h ^ p[i]) * HASH_PRIME;
    return h;
}

bool lps_dist_built(void)
{
#ifdef LPS_HAVE_MPI
    return true;
#else
    return false;
#endif
}

#ifdef LPS_HAVE_MPI

/* Whether MPI is running (initialized and not finalized). */
static bool mpi_active(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

static lps_status mpi_failed(int rc, const char *what, lps_error *err)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return lps_fail(err, LPS_ERR_RUNTIME, "MPI: %s failed: %s", what, msg);
}

/* Variables a launcher (Open MPI's mpirun, a PMI or PMIx one) sets in
 * every rank's environment. */
static bool launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

lps_status lps_dist_init(int *argc, char ***argv, lps_error *err)
{
    /* Started by hand, the MPI build is a world of one without MPI at all:
     * no MPI_Init (a singleton start spawns a daemon), so it behaves as
     * the build without MPI. */
    if (!launched_by_mpi())
        return LPS_OK;
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS)
        return lps_fail(err, LPS_ERR_RUNTIME, "MPI: MPI_Init failed (code %d)", rc);
    /* Failures come back as codes, so that one rank reports and aborts. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return LPS_OK;
}

void lps_dist_finalize(void)
{
    if (mpi_active())
        MPI_Finalize();
}

void lps_dist_abort(int code)
{
    if (mpi_active() && lps_dist_size() > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}

int lps_dist_rank(void)
{
    int rank = 0;
    if (mpi_active())
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int lps_dist_size(void)
{
    int size = 1;
    if (mpi_active())
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

lps_status lps_dist_broadcast(void *buf, size_t bytes, int root, const char *what,
                              lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    for (size_t off = 0; off < bytes; off += MPI_CHUNK) {
        size_t n = bytes - off < MPI_CHUNK ? bytes - off : MPI_CHUNK;
        int rc = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, what, err);
    }
    return LPS_OK;
}

static lps_status sum_in_place(void *x, size_t n, size_t esize, MPI_Datatype type,
                               lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        size_t k = n - off < MPI_CHUNK ? n - off : MPI_CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)x + off * esize, (int)k, type, MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(rc, "the gradient sum (MPI_Allreduce)", err);
    }
    return LPS_OK;
}

lps_status lps_dist_sum_floats(float *x, size_t n, lps_error *err)
{
    return sum_in_place(x, n, sizeof *x, MPI_FLOAT, err);
}

lps_status lps_dist_sum_doubles(double *x, size_t n, lps_error *err)
{
    return sum_in_place(x, n, sizeof *x, MPI_DOUBLE, err);
}

lps_status lps_dist_reduce_step(float *g, size_t n, int64_t count, int64_t global,
                                lps_dist_step *s, lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    float share = global > 0 ? (float)count / (float)global : 0.0f;
    for (size_t i = 0; i < n; i++)
        g[i] *= share;
    lps_status st = lps_dist_sum_floats(g, n, err);
    if (st == LPS_OK)
        st = lps_dist_sum_doubles(&s->loss_sum, sizeof *s / sizeof s->loss_sum, err);
    return st;
}

lps_status lps_dist_check_same(uint64_t hash, const char *what, int64_t step, lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    /* One MAX over (h, ~h) gives the largest and the complement of the
     * smallest hash: equal everywhere exactly when they agree. */
    unsigned long long both[2] = {hash, ~hash};
    int rc = MPI_Allreduce(MPI_IN_PLACE, both, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_failed(rc, "the divergence check (MPI_Allreduce)", err);
    if (both[0] != ~both[1])
        return lps_fail(err, LPS_ERR_RUNTIME,
                        "the ranks' %s differ at step %lld: the ranks diverged (the same "
                        "library versions and OMP_NUM_THREADS on every node are needed)",
                        what, (long long)step);
    return LPS_OK;
}

static lps_status average_tensor(lps_tensor *t, void *user, lps_error *err)
{
    (void)user;
    if (t->dtype != LPS_DT_FLOAT)
        return LPS_OK;
    size_t n = (size_t)lps_tensor_numel(t);
    float *x = lps_tensor_f32(t);
    lps_status st = lps_dist_sum_floats(x, n, err);
    float inv = 1.0f / (float)lps_dist_size();
    for (size_t i = 0; i < n && st == LPS_OK; i++)
        x[i] *= inv;
    return st;
}

lps_status lps_dist_average_state(const lps_plan *p, lps_model *m, lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    return lps_plan_each_state(p, m, average_tensor, NULL, err);
}

lps_status lps_dist_check_params(lps_plan *p, uint64_t extra, int64_t step, lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    size_t n;
    const float *w = lps_plan_param_data(p, &n);
    uint64_t h = lps_dist_hash(LPS_DIST_HASH_INIT, w, n * sizeof *w);
    h = lps_dist_hash(h, &extra, sizeof extra);
    return lps_dist_check_same(h, "weights and masks", step, err);
}

#else /* a world of one */

lps_status lps_dist_average_state(const lps_plan *p, lps_model *m, lps_error *err)
{
    (void)p, (void)m, (void)err;
    return LPS_OK;
}

lps_status lps_dist_check_params(lps_plan *p, uint64_t extra, int64_t step, lps_error *err)
{
    (void)p, (void)extra, (void)step, (void)err;
    return LPS_OK;
}


lps_status lps_dist_init(int *argc, char ***argv, lps_error *err)
{
    (void)argc;
    (void)argv;
    (void)err;
    return LPS_OK;
}

void lps_dist_finalize(void) {}

void lps_dist_abort(int code)
{
    (void)code;
}

int lps_dist_rank(void)
{
    return 0;
}

int lps_dist_size(void)
{
    return 1;
}

lps_status lps_dist_broadcast(void *buf, size_t bytes, int root, const char *what,
                              lps_error *err)
{
    (void)buf, (void)bytes, (void)root, (void)what, (void)err;
    return LPS_OK;
}

lps_status lps_dist_sum_floats(float *x, size_t n, lps_error *err)
{
    (void)x, (void)n, (void)err;
    return LPS_OK;
}

lps_status lps_dist_sum_doubles(double *x, size_t n, lps_error *err)
{
    (void)x, (void)n, (void)err;
    return LPS_OK;
}

lps_status lps_dist_reduce_step(float *g, size_t n, int64_t count, int64_t global,
                                lps_dist_step *s, lps_error *err)
{
    (void)g, (void)n, (void)count, (void)global, (void)s, (void)err;
    return LPS_OK;
}

lps_status lps_dist_check_same(uint64_t hash, const char *what, int64_t step, lps_error *err)
{
    (void)hash, (void)what, (void)step, (void)err;
    return LPS_OK;
}

#endif
