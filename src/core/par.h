/* Thread-level parallelism shared by the ops (docs/architecture.md,
 * "Threads"): how many threads, how work is cut into chunks, how chunks
 * run, and how their partial sums are added.
 *
 * The policy, in one place so every op follows it:
 * - The thread count is OpenMP's (OMP_NUM_THREADS, lps_par_threads).
 * - An op cuts its work into chunks whose number depends only on the work
 *   and the thread count (lps_par_chunks), never on how many threads a
 *   region actually gets, and each chunk's work is a fixed function of its
 *   index (lps_par_range): a chunk's result does not depend on the thread
 *   that runs it.
 * - Chunks run on OpenMP threads with OpenBLAS held to one thread meanwhile
 *   (lps_par_for), each chunk calling single-threaded BLAS on its part.
 * - Sums over chunks (a weight gradient over image blocks) go into one
 *   partial per chunk and are added onto the destination in chunk order
 *   (lps_par_sum), so results are identical across reruns at the same
 *   thread count; with one thread there is one chunk and no partial.
 * Workspace for the chunks comes from the caller (the execution context's,
 * which grows to its largest request once and is then reused). */
#ifndef LPS_CORE_PAR_H
#define LPS_CORE_PAR_H

#include <stddef.h>
#include <stdint.h>

/* Below this many floating-point operations a piece of work runs in the
 * caller's thread: waking a sleeping OpenMP thread (OMP_WAIT_POLICY=PASSIVE)
 * and joining it costs about 15 us on this machine (an empty lps_par_for
 * at load 5), one core's sgemm of about 0.75 MFLOP at 50 GFLOP/s, so
 * halving less than 2 MFLOP saves little more than it costs (more under
 * load: at load 16 a 3.8 MFLOP sgemm took 43 us alone, 53 us cut in two;
 * docs/architecture.md, "Threads"). */
#define LPS_PAR_MIN_FLOPS 2e6

/* Threads the ops may use: omp_get_max_threads() outside a parallel region
 * (OMP_NUM_THREADS), 1 inside one. Always >= 1. */
int lps_par_threads(void);

/* Chunks to cut work of `flops` operations over `items` independent items
 * into: min(lps_par_threads(), items), or 1 when flops is below
 * LPS_PAR_MIN_FLOPS or items < 2. Depends on its arguments and the thread
 * count only. */
int lps_par_chunks(int64_t items, double flops);

/* The items [*begin, *end) of chunk `chunk` of n_chunks over n items:
 * contiguous, in order, sizes differing by at most one. */
void lps_par_range(int64_t n, int chunk, int n_chunks, int64_t *begin, int64_t *end);

/* One chunk of work; must not fail (callers allocate and check first). */
typedef void (*lps_par_fn)(void *arg, int chunk, int n_chunks);

/* Calls fn(arg, c, n_chunks) once for every c in [0, n_chunks). With more
 * than one chunk they run on up to n_chunks OpenMP threads, with OpenBLAS
 * limited to one thread for the duration (its thread count restored
 * after), so the chunks' BLAS calls run concurrently in their own threads:
 * Debian's OpenBLAS is built with USE_THREAD=1, whose buffer pool takes a
 * lock, and with one thread set a GEMM runs in its caller without the
 * thread server (docs/architecture.md, "Threads"). One chunk is a plain
 * call in the caller's thread, OpenBLAS untouched. */
void lps_par_for(int n_chunks, lps_par_fn fn, void *arg);

/* lps_par_for in two phases: first(arg, c, n_chunks) for every chunk c,
 * then, once every first call has returned, then(arg, c, n_chunks) for
 * every c, chunk c on the same thread in both. With more than one chunk
 * both phases run in one parallel region (a barrier between them), so a
 * second phase that depends on all of the first (a check of every chunk's
 * input before any chunk writes) costs no second wake of the threads. */
void lps_par_for_phases(int n_chunks, lps_par_fn first, lps_par_fn then, void *arg);

/* What one float read or written by a streaming pass (an element-wise op,
 * a copy, a zeroing) weighs against LPS_PAR_MIN_FLOPS: one core streams
 * about 25 G floats/s through its caches where its sgemm does about
 * 50 GFLOP/s, so a pass is cut only from about a million floats moved,
 * some 40 us of work, where halving it saves more than waking a thread
 * costs (docs/architecture.md, "Threads"). */
#define LPS_PAR_FLOPS_PER_FLOAT 2.0

/* Piece boundaries of lps_par_elements fall on multiples of this many
 * items: 16 floats are one 64-byte cache line, so two threads never write
 * the same line of a float array that starts on one. */
#define LPS_PAR_ELEMENT_ALIGN 16

/* One piece [begin, end) of the items of an lps_par_elements call. */
typedef void (*lps_par_range_fn)(void *arg, int64_t begin, int64_t end);

/* Calls fn(arg, begin, end) on contiguous pieces covering [0, n) in order,
 * one per chunk of lps_par_chunks over the n / LPS_PAR_ELEMENT_ALIGN runs
 * of items and n * floats_per_item * LPS_PAR_FLOPS_PER_FLOAT flops, run by
 * lps_par_for; every boundary but n is a multiple of
 * LPS_PAR_ELEMENT_ALIGN. For work whose every item is computed alone
 * (element-wise ops, copies): the result is then the same bytes at any
 * thread count. n <= 0 calls nothing. */
void lps_par_elements(int64_t n, double floats_per_item, lps_par_range_fn fn, void *arg);

/* x[0..n) = 0, cut as lps_par_elements. x may be NULL when n is 0. */
void lps_par_zero(float *x, size_t n);

/* dst[0..n) = src[0..n) (not overlapping), cut as lps_par_elements. */
void lps_par_copy(float *dst, const float *src, size_t n);

/* Per-chunk partial sums onto dst[0..n): chunk 0 accumulates into dst
 * itself, chunk c > 0 into its own copy (zeroed by lps_par_sum_at), and
 * lps_par_sum_finish adds copies 1..chunks-1 onto dst in that order. A
 * NULL dst makes every lps_par_sum_at NULL and finish a no-op. */
typedef struct lps_par_sum {
    float *dst;
    float *partials; /* (chunks - 1) * n floats */
    size_t n;
    int chunks;
} lps_par_sum;

/* Floats of workspace a sum of n floats over `chunks` chunks needs. */
size_t lps_par_sum_floats(size_t n, int chunks);

/* A sum onto dst (may be NULL) of n floats over `chunks` chunks, its
 * partials in ws (lps_par_sum_floats floats; unused when dst is NULL). */
lps_par_sum lps_par_sum_make(float *dst, size_t n, int chunks, float *ws);

/* Chunk `chunk`'s accumulator: dst for chunk 0, else its partial, zeroed
 * here (call once per chunk, from the thread running it, before
 * accumulating). NULL when the sum's dst is NULL. */
float *lps_par_sum_at(const lps_par_sum *s, int chunk);

/* dst += partial[1] + ... in chunk order (after every chunk has run), the
 * elements cut as lps_par_elements (each element's additions keep that
 * order, so the bytes do not depend on the cut). */
void lps_par_sum_finish(const lps_par_sum *s);

/* C [m, n] = alpha * op(A) * op(B) + beta * C, row-major, as cblas_sgemm
 * with CblasRowMajor (trans_a/trans_b: op transposes). The rows of C, or
 * its columns when it has more of them, are cut into lps_par_chunks pieces
 * (whole LPS_PAR_GEMM_ALIGN-row or -column panels), each one
 * single-threaded sgemm; one piece (below LPS_PAR_MIN_FLOPS) is one
 * single-threaded sgemm, OpenBLAS's threads never used. The pieces are fixed by the shapes and the thread
 * count, so reruns are byte-identical; they may round differently from one
 * sgemm of the whole, as OpenBLAS picks its kernels by size (its
 * small-matrix kernels below about a million m * n * k). */
void lps_par_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* C [m, n] = alpha * op(A) * op(B) + bias, each row of C set to bias [n]
 * (NULL: zeros) and the product added as lps_par_sgemm with beta = 1 adds
 * it: each piece sets its own part of C in its thread, so a Gemm's bias
 * costs no serial pass. The same bytes as setting C, then lps_par_sgemm
 * with beta 1. */
void lps_par_sgemm_bias(int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, const float *bias,
                        float *c, int ldc);

/* Rows or columns per GEMM piece are a multiple of this, so that no
 * thread gets a remainder tile in the middle of C. Eight, not the 16 rows
 * of OpenBLAS's widest register tiles: 16 cut LeNet-300-100's 300 columns
 * 160/140, the caller's thread taking 53% of the work; at 8 they are
 * 152/148, and a single-threaded 152-column piece of its fc1 forward ran
 * at the 160-column piece's rate per flop (AMD Zen 1, OpenBLAS's Zen
 * kernel: 881 against 959 us; docs/benchmarks.md, "Default run, twelfth
 * round"). */
#define LPS_PAR_GEMM_ALIGN 8

/* The part [*from, *to) of lps_par_sgemm's cut dimension (dim rows or
 * columns of C) that chunk `chunk` of n_chunks computes: whole
 * LPS_PAR_GEMM_ALIGN panels in order (the last may be short), the chunks'
 * panel counts differing by at most one, the earlier chunks (chunk 0 runs
 * in the caller's thread) taking the extra ones. */
void lps_par_gemm_range(int64_t dim, int chunk, int n_chunks, int64_t *from, int64_t *to);

#endif
