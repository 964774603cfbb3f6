/* Training throughput: how fast lpsparsify trains a model, and how close its
 * whole training step comes to what OpenBLAS does with the same GEMMs alone.
 *
 *   bench_train [--batch N] [--steps N] [--data SPEC] [--no-reference] MODEL...
 *
 * For each MODEL it trains (dense SGD, the `lpsparsify train` path) on the
 * first steps * batch samples of the training split for two epochs and times
 * every step of the second (the first warms allocations and caches); the
 * machine may be shared, so medians are reported. The step's work is
 * counted as the multiply-adds of its Conv and Gemm nodes, 2 FLOPs each:
 * forward, the weight gradient, and the input gradient where the input
 * depends on a parameter (the first layer gets none). The same run then
 * times cblas_sgemm alone on exactly the GEMMs the Conv and Gemm operators
 * issue (same shapes, transposes and counts: Conv runs one GEMM per block
 * of images and group on their im2col matrix, lps_conv_block_images;
 * per shape the best of SGEMM_ROUNDS interleaved rounds, each the median
 * of SGEMM_TRIALS calls) and prints the ratio
 * achieved GFLOP/s / sgemm GFLOP/s (the median round's beside it). Other work (im2col, pooling, ReLU,
 * softmax, the optimizer, batching) is in the step time but not in the
 * FLOP count, so the ratio is the share of pure-GEMM speed the whole step
 * reaches. --no-reference skips the GEMM count and the sgemm reference and
 * prints only the training rate (models whose ops the count does not know,
 * the PyTorch comparison in bench/peer/throughput.py).
 *
 * Under mpirun (bench/scale.py, docs/distributed.md) --batch is per rank:
 * each of the K ranks trains on its share of steps * batch * K samples,
 * samples/s counts the global batch, and rank 0 prints, adding the median
 * time of one gradient sum (lps_dist_sum_floats over every parameter) and
 * the bytes it reduces. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/par.h"
#include "core/runtime_env.h"
#include "lpsparsify/data.h"
#include "lpsparsify/model.h"
#include "ops/conv.h"
#include "train/dist.h"
#include "train/trainer.h"

#define DEFAULT_BATCH 128
#define DEFAULT_STEPS 40
#define BENCH_EPOCHS 2            /* epoch 1 warms up, epoch 2 is timed */
#define MAX_GEMMS 64              /* distinct GEMM shapes per model */
#define SGEMM_TRIALS 21           /* timed calls per reference shape and round (median) */
#define SGEMM_ROUNDS 7            /* rounds over every shape, interleaved (best and median) */
#define BENCH_LR 0.01
#define ALLREDUCE_TRIALS 21       /* timed gradient sums (median) */
#define GIGA 1e9

typedef struct gemm_shape {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    double calls;                 /* per training step */
    const char *what;             /* "Conv fwd", "Gemm dW", ... */
    const char *node;
} gemm_shape;

typedef struct gemm_list {
    gemm_shape g[MAX_GEMMS];
    int n;
} gemm_list;

/* Every figure is taken on two clocks: wall time, and the process's CPU
 * time, which a machine shared with other jobs inflates much less. */
enum { WALL, CPU, N_CLOCKS };
static const clockid_t CLOCK_IDS[N_CLOCKS] = {CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID};
static const char *const CLOCK_NAMES[N_CLOCKS] = {"wall", "cpu"};

static void read_clocks(double t[N_CLOCKS])
{
    for (int c = 0; c < N_CLOCKS; c++) {
        struct timespec ts;
        clock_gettime(CLOCK_IDS[c], &ts);
        t[c] = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
}

/* Appends one GEMM; returns LPS_ERR_UNSUPPORTED when the list is full. */
static lps_status add_gemm(gemm_list *l, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m,
                           int64_t n, int64_t k, double calls, const char *what,
                           const char *node, lps_error *err)
{
    if (l->n == MAX_GEMMS)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: more than %d GEMM shapes", node, MAX_GEMMS);
    l->g[l->n++] = (gemm_shape){ta, tb, (int)m, (int)n, (int)k, calls, what, node};
    return LPS_OK;
}

static int64_t attr_int(const lps_node *node, const char *name, int64_t fallback)
{
    const lps_attr *a = lps_node_attr(node, name);
    return a ? a->i : fallback;
}

/* attribute `name`'s value at index i, or fallback when absent. */
static int64_t attr_ints_at(const lps_node *node, const char *name, size_t i, int64_t fallback)
{
    const lps_attr *a = lps_node_attr(node, name);
    return a && i < a->n_ints ? a->ints[i] : fallback;
}

/* Whether a 2-D group-1 Conv node's backward takes the unit-stride path
 * (lps_conv_flip_applies, conv_grad_flip.c), from its explicit attributes:
 * a node with auto_pad counts as the general path. */
static bool conv_flips(const lps_node *node, const lps_tensor *x, const lps_tensor *w,
                       const lps_tensor *y)
{
    lps_spatial_geom g = {.n = 2, .in_size = 1, .out_size = 1, .kernel_size = 1};
    if (lps_node_attr(node, "auto_pad") || attr_int(node, "group", 1) != 1)
        return false;
    for (int d = 0; d < 2; d++) {
        g.in[d] = x->dims[2 + d];
        g.out[d] = y->dims[2 + d];
        g.kernel[d] = w->dims[2 + d];
        g.stride[d] = attr_ints_at(node, "strides", (size_t)d, 1);
        g.dilation[d] = attr_ints_at(node, "dilations", (size_t)d, 1);
        g.pad_begin[d] = attr_ints_at(node, "pads", (size_t)d, 0);
        g.pad_end[d] = attr_ints_at(node, "pads", (size_t)d + 2, 0);
        g.in_size *= g.in[d];
        g.out_size *= g.out[d];
        g.kernel_size *= g.kernel[d];
    }
    g.in_stride[1] = 1;
    g.in_stride[0] = g.in[1];
    lps_spatial_geom live;
    int64_t first[LPS_SPATIAL_MAX];
    return !lps_spatial_crop_dead_taps(&g, &live, first) &&
           lps_conv_flip_applies(&g, x->dims[1], w->dims[0]);
}

/* The unit-stride backward's GEMMs (conv_grad_flip.c): per block of images
 * R [M * K, C] += T * X^T and dX [C, cols] = Wf * T over the im2col T of
 * dY with M * K rows and the input planes as columns. */
static lps_status add_flip_gemms(gemm_list *l, const lps_node *node, const lps_tensor *x,
                                 const lps_tensor *w, lps_error *err)
{
    int64_t batch = x->dims[0], in_ch = x->dims[1];
    int64_t rows = w->dims[0] * w->dims[2] * w->dims[3], in_size = x->dims[2] * x->dims[3];
    int64_t images = lps_conv_block_images(batch, in_size, rows, 2 * in_ch);
    int64_t counts[2] = {batch / images, batch % images ? 1 : 0};
    int64_t widths[2] = {images, batch % images};
    lps_status st = LPS_OK;
    for (int part = 0; part < 2 && st == LPS_OK; part++) {
        int64_t cols = widths[part] * in_size;
        if (counts[part] == 0)
            continue;
        st = add_gemm(l, CblasNoTrans, CblasTrans, rows, in_ch, cols, (double)counts[part],
                      "Conv dW", node->name, err);
        if (st == LPS_OK)
            st = add_gemm(l, CblasNoTrans, CblasNoTrans, in_ch, cols, rows,
                          (double)counts[part], "Conv dX", node->name, err);
    }
    return st;
}

/* True when a value named `name` is computed from a float initializer, i.e.
 * the engine propagates a gradient into it. depends[] holds one flag per
 * earlier node output, in node order. */
static bool depends_on_params(const lps_model *m, size_t upto, const bool *depends,
                              const char *name)
{
    lps_initializer *init = lps_graph_find_initializer(&m->graph, name);
    if (init)
        return init->tensor.dtype == LPS_DT_FLOAT;
    for (size_t i = 0; i < upto; i++)
        for (size_t o = 0; o < m->graph.nodes[i].n_outputs; o++)
            if (strcmp(m->graph.nodes[i].outputs[o], name) == 0)
                return depends[i];
    return false;
}

/* The tensor of value `name` after the last forward; for the output of a
 * producer whose activation was fused into it (lps_plan_n_fused), which
 * has none, the activation's output: same shape. NULL when neither. */
static const lps_tensor *output_tensor(const lps_model *m, const lps_plan *plan, const char *name)
{
    const lps_tensor *t = lps_plan_value(plan, lps_plan_find_value(plan, name));
    for (size_t i = 0; !t && i < m->graph.n_nodes; i++) {
        const lps_node *n = &m->graph.nodes[i];
        if (n->n_inputs == 1 && n->n_outputs >= 1 && strcmp(n->inputs[0], name) == 0)
            t = lps_plan_value(plan, lps_plan_find_value(plan, n->outputs[0]));
    }
    return t;
}

/* The GEMMs of one training step, read off the shapes the plan saw in its
 * last forward (a full batch). Mirrors src/ops/gemm.c and src/ops/conv.c.
 * Only transA = 0 Gemm and 2-D Conv are handled; others are an error. */
static lps_status collect_gemms(const lps_model *m, const lps_plan *plan, gemm_list *l,
                                lps_error *err)
{
    bool *depends = calloc(m->graph.n_nodes + 1, sizeof *depends);
    lps_status st = LPS_OK;
    if (!depends)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    l->n = 0;
    for (size_t i = 0; i < m->graph.n_nodes && st == LPS_OK; i++) {
        const lps_node *node = &m->graph.nodes[i];
        for (size_t j = 0; j < node->n_inputs; j++)
            depends[i] = depends[i] || (node->inputs[j][0] &&
                                        depends_on_params(m, i, depends, node->inputs[j]));
        bool is_gemm = strcmp(node->op_type, "Gemm") == 0;
        if (!is_gemm && strcmp(node->op_type, "Conv") != 0)
            continue;
        const lps_tensor *x = lps_plan_value(plan, lps_plan_find_value(plan, node->inputs[0]));
        const lps_tensor *w = lps_plan_value(plan, lps_plan_find_value(plan, node->inputs[1]));
        const lps_tensor *y = output_tensor(m, plan, node->outputs[0]);
        bool dx = depends_on_params(m, i, depends, node->inputs[0]);
        if (!x || !w || !y) {
            st = lps_fail(err, LPS_ERR_RUNTIME, "%s: no tensors after the training run", node->name);
        } else if (is_gemm) {
            bool tb = attr_int(node, "transB", 0) != 0;
            int64_t mm = y->dims[0], nn = y->dims[1], kk = x->dims[1];
            if (attr_int(node, "transA", 0) != 0 || x->rank != 2)
                st = lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: only transA = 0 is counted", node->name);
            if (st == LPS_OK)
                st = add_gemm(l, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, mm, nn, kk, 1,
                              "Gemm fwd", node->name, err);
            if (st == LPS_OK && dx)
                st = add_gemm(l, CblasNoTrans, tb ? CblasNoTrans : CblasTrans, mm, kk, nn, 1,
                              "Gemm dX", node->name, err);
            if (st == LPS_OK)
                st = tb ? add_gemm(l, CblasTrans, CblasNoTrans, nn, kk, mm, 1, "Gemm dW",
                                   node->name, err)
                        : add_gemm(l, CblasTrans, CblasNoTrans, kk, nn, mm, 1, "Gemm dW",
                                   node->name, err);
        } else if (x->rank != 4) {
            st = lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: only 2-D convolutions are counted",
                          node->name);
        } else {
            bool flips = dx && conv_flips(node, x, w, y);
            int64_t group = attr_int(node, "group", 1);
            int64_t batch = x->dims[0];
            int64_t out_per_group = w->dims[0] / group;
            int64_t rows = w->dims[1] * w->dims[2] * w->dims[3];
            int64_t out_size = y->dims[2] * y->dims[3];
            int64_t images = lps_conv_block_images(batch, out_size, group * rows, w->dims[0]);
            /* full blocks, then the last partial one */
            int64_t counts[2] = {batch / images, batch % images ? 1 : 0};
            int64_t widths[2] = {images, batch % images};
            for (int part = 0; part < 2 && st == LPS_OK; part++) {
                int64_t cols = widths[part] * out_size;
                double calls = (double)(counts[part] * group);
                if (calls == 0)
                    continue;
                st = add_gemm(l, CblasNoTrans, CblasNoTrans, out_per_group, cols, rows, calls,
                              "Conv fwd", node->name, err);
                if (st == LPS_OK && !flips)
                    st = add_gemm(l, CblasNoTrans, CblasTrans, out_per_group, rows, cols, calls,
                                  "Conv dW", node->name, err);
                if (st == LPS_OK && dx && !flips)
                    st = add_gemm(l, CblasTrans, CblasNoTrans, rows, cols, out_per_group, calls,
                                  "Conv dX", node->name, err);
            }
            if (st == LPS_OK && flips)
                st = add_flip_gemms(l, node, x, w, err);
        }
    }
    free(depends);
    return st;
}

static double gemm_flops(const gemm_shape *g)
{
    return 2.0 * g->m * g->n * g->k * g->calls;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n-1] (sorts v in place). */
static double median(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median seconds (per clock) of one cblas_sgemm call of g over SGEMM_TRIALS
 * timed calls, after one untimed call; a, b, c hold the operands. */
static void time_sgemm(const gemm_shape *g, float *a, float *b, float *c,
                       double seconds[N_CLOCKS])
{
    int lda = g->ta == CblasNoTrans ? g->k : g->m;
    int ldb = g->tb == CblasNoTrans ? g->n : g->k;
    double trials[N_CLOCKS][SGEMM_TRIALS];
    for (int r = -1; r < SGEMM_TRIALS; r++) {
        double start[N_CLOCKS], end[N_CLOCKS];
        read_clocks(start);
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb, 1.0f, c,
                    g->n);
        read_clocks(end);
        for (int k = 0; r >= 0 && k < N_CLOCKS; k++)
            trials[k][r] = end[k] - start[k];
    }
    for (int k = 0; k < N_CLOCKS; k++)
        seconds[k] = median(trials[k], SGEMM_TRIALS);
}

/* One step's GEMM seconds per clock at the sgemm reference: the best
 * (the ratio's, the stricter: the fastest reference) and the median. */
typedef struct sgemm_reference {
    double best[N_CLOCKS], median[N_CLOCKS];
} sgemm_reference;

/* Times every GEMM of l alone, SGEMM_ROUNDS rounds each timing every shape
 * once (median of SGEMM_TRIALS calls), so that a shape's rounds are spread
 * over the whole measurement and a burst of load on a shared machine
 * (OpenBLAS's threads waking late) hits one round rather than one shape.
 * A shape's time is its best round, or its median round; ref gets one
 * step's sum of each. Prints one line per shape at its best (wall-clock
 * speed; bench/sparsify/run.py reads these lines), its median after it. */
static lps_status sgemm_step_seconds(const gemm_list *l, sgemm_reference *ref, lps_error *err)
{
    size_t max_a = 1, max_b = 1, max_c = 1;
    for (int i = 0; i < l->n; i++) {
        const gemm_shape *g = &l->g[i];
        size_t a = (size_t)g->m * (size_t)g->k, b = (size_t)g->k * (size_t)g->n;
        size_t c = (size_t)g->m * (size_t)g->n;
        max_a = a > max_a ? a : max_a;
        max_b = b > max_b ? b : max_b;
        max_c = c > max_c ? c : max_c;
    }
    float *a = malloc(max_a * sizeof *a), *b = malloc(max_b * sizeof *b);
    float *c = calloc(max_c, sizeof *c);
    double (*rounds)[N_CLOCKS][SGEMM_ROUNDS] = calloc((size_t)l->n + 1, sizeof *rounds);
    lps_status st = LPS_OK;
    if (!a || !b || !c || !rounds) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for the sgemm buffers");
        goto cleanup;
    }
    for (size_t i = 0; i < max_a; i++)
        a[i] = (float)(i % 7) * 0.125f - 0.375f;
    for (size_t i = 0; i < max_b; i++)
        b[i] = (float)(i % 5) * 0.25f - 0.5f;
    for (int r = 0; r < SGEMM_ROUNDS; r++)
        for (int i = 0; i < l->n; i++) {
            double t[N_CLOCKS];
            time_sgemm(&l->g[i], a, b, c, t);
            for (int k = 0; k < N_CLOCKS; k++)
                rounds[i][k][r] = t[k];
        }
    memset(ref, 0, sizeof *ref);
    for (int i = 0; i < l->n; i++) {
        const gemm_shape *g = &l->g[i];
        double best[N_CLOCKS], mid[N_CLOCKS];
        for (int k = 0; k < N_CLOCKS; k++) {
            mid[k] = median(rounds[i][k], SGEMM_ROUNDS); /* sorted: [0] is the best */
            best[k] = rounds[i][k][0];
            ref->best[k] += best[k] * g->calls;
            ref->median[k] += mid[k] * g->calls;
        }
        double flop = 2.0 * g->m * g->n * g->k;
        printf("  %-12s %-8s %c%c m=%-5d n=%-5d k=%-5d x%-5g sgemm %7.2f GFLOP/s best, %7.2f "
               "median\n", g->node, g->what, g->ta == CblasTrans ? 'T' : 'N',
               g->tb == CblasTrans ? 'T' : 'N', g->m, g->n, g->k, g->calls,
               flop / best[WALL] / GIGA, flop / mid[WALL] / GIGA);
    }
cleanup:
    free(a);
    free(b);
    free(c);
    free(rounds);
    return st;
}

/* Per-step times of the timed epoch, recorded by the progress hook (called
 * once after every step, so consecutive calls bracket one step: fetching its
 * batch, forward, loss, backward and the update). */
typedef struct step_clock {
    double last[N_CLOCKS];
    double *seconds[N_CLOCKS];    /* capacity entries each */
    int64_t n, capacity;
} step_clock;

static void record_step(void *user, const lps_progress *p)
{
    step_clock *c = user;
    double now[N_CLOCKS];
    read_clocks(now);
    bool timed = p->epoch == BENCH_EPOCHS && c->n < c->capacity;
    for (int k = 0; k < N_CLOCKS; k++) {
        if (timed)
            c->seconds[k][c->n] = now[k] - c->last[k];
        c->last[k] = now[k];
    }
    c->n += timed;
}

/* Copies the first n samples (and labels) of src into a new dataset. */
static lps_status take_first(const lps_dataset *src, int64_t n, lps_dataset *dst, lps_error *err)
{
    lps_tensor samples = {0}, labels = {0};
    int64_t label_dims[1] = {n};
    int64_t dims[LPS_MAX_RANK];
    if (n > lps_dataset_size(src) || !src->labels)
        return lps_fail(err, LPS_ERR_INVALID, "%s: need %lld labeled samples, have %lld",
                        src->name, (long long)n, (long long)lps_dataset_size(src));
    memcpy(dims, src->samples.dims, (size_t)src->samples.rank * sizeof *dims);
    dims[0] = n;
    lps_status st = lps_tensor_alloc(&samples, src->samples.dtype, src->samples.rank, dims, err);
    if (st == LPS_OK)
        st = lps_tensor_alloc(&labels, LPS_DT_INT64, 1, label_dims, err);
    if (st == LPS_OK) {
        memcpy(samples.data, src->samples.data, samples.nbytes);
        memcpy(labels.data, src->labels, labels.nbytes);
        st = lps_dataset_from_tensors(dst, src->name, &samples, src->labels_name, &labels, err);
    }
    lps_tensor_release(&samples);
    lps_tensor_release(&labels);
    return st;
}

/* Under MPI: the median wall time of one sum of the gradient buffer over
 * the ranks, the step's communication. */
static lps_status time_allreduce(lps_trainer *t, lps_error *err)
{
    if (lps_dist_size() == 1)
        return LPS_OK;
    size_t n;
    float *g = lps_plan_grad_data(lps_trainer_plan(t), &n);
    double seconds[ALLREDUCE_TRIALS];
    for (int i = 0; i < ALLREDUCE_TRIALS; i++) {
        double start[N_CLOCKS], end[N_CLOCKS];
        read_clocks(start);
        lps_status st = lps_dist_sum_floats(g, n, err);
        read_clocks(end);
        if (st != LPS_OK)
            return st;
        seconds[i] = end[WALL] - start[WALL];
    }
    printf("  allreduce of %zu floats (%.2f MB) over %d ranks: %.3f ms (median of %d)\n", n,
           (double)(n * sizeof *g) / 1e6, lps_dist_size(), median(seconds, ALLREDUCE_TRIALS) * 1e3,
           ALLREDUCE_TRIALS);
    return LPS_OK;
}

/* Benchmarks one model; prints its lines. */
static lps_status bench_model(const char *path, const lps_dataset *train, int64_t batch,
                              int64_t steps, bool reference, lps_error *err)
{
    lps_model *m = lps_model_load(path, err);
    lps_trainer *t = NULL;
    lps_train_options opt;
    step_clock clock = {.capacity = steps};
    lps_train_hooks hooks = {.display_user = &clock, .progress = record_step};
    gemm_list *gemms = calloc(1, sizeof *gemms);
    sgemm_reference sgemm;
    lps_status st = LPS_OK;
    for (int k = 0; k < N_CLOCKS; k++)
        clock.seconds[k] = calloc((size_t)steps, sizeof(double));
    if (!m || !gemms || !clock.seconds[WALL] || !clock.seconds[CPU]) {
        st = m ? lps_fail(err, LPS_ERR_NOMEM, "out of memory") : err->status;
        goto cleanup;
    }
    lps_train_options_default(&opt);
    opt.epochs = BENCH_EPOCHS;
    opt.batch_size = batch;
    opt.lr.base_lr = BENCH_LR;
    t = lps_trainer_create(m, train, NULL, &opt, err);
    if (!t) {
        st = err->status;
        goto cleanup;
    }
    read_clocks(clock.last);
    printf("%s: batch %lld, medians over %lld training steps\n", path, (long long)batch,
           (long long)steps);
    if ((st = lps_trainer_run(t, &hooks, NULL, err)) != LPS_OK)
        goto cleanup;
    if (!reference) {
        int64_t global = batch * lps_dist_size();
        for (int k = 0; k < N_CLOCKS; k++) {
            double step = median(clock.seconds[k], clock.n);
            printf("  %-4s training %8.1f samples/s %7.2f ms/step\n", CLOCK_NAMES[k],
                   (double)global / step, step * 1e3);
        }
        st = time_allreduce(t, err);
        goto cleanup;
    }
    if ((st = collect_gemms(m, lps_trainer_plan(t), gemms, err)) != LPS_OK ||
        (st = sgemm_step_seconds(gemms, &sgemm, err)) != LPS_OK)
        goto cleanup;
    double flops = 0.0;
    for (int i = 0; i < gemms->n; i++)
        flops += gemm_flops(&gemms->g[i]);
    printf("  %.4f GFLOP per step in Conv/Gemm (forward + backward)\n", flops / GIGA);
    printf("  sgemm reference: each shape's best of %d interleaved rounds (median of %d calls "
           "each); the ratio uses the best, the median's in brackets\n", SGEMM_ROUNDS,
           SGEMM_TRIALS);
    for (int k = 0; k < N_CLOCKS; k++) {
        double step = median(clock.seconds[k], clock.n);
        double achieved = flops / step / GIGA, reference = flops / sgemm.best[k] / GIGA;
        printf("  %-4s training %8.1f samples/s %7.2f ms/step %7.2f GFLOP/s | sgemm %7.2f ms "
               "%7.2f GFLOP/s | ratio %5.1f%% (median sgemm %7.2f ms, ratio %5.1f%%)\n",
               CLOCK_NAMES[k], (double)batch / step, step * 1e3, achieved, sgemm.best[k] * 1e3,
               reference, 100.0 * achieved / reference, sgemm.median[k] * 1e3,
               100.0 * sgemm.median[k] / step);
    }
cleanup:
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", path);
    lps_trainer_free(t);
    lps_model_free(m);
    free(gemms);
    for (int k = 0; k < N_CLOCKS; k++)
        free(clock.seconds[k]);
    return st;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_train [--batch N] [--steps N] [--data SPEC] [--no-reference] MODEL...\n");
    return 2;
}

int main(int argc, char **argv)
{
    /* as the CLI does (src/cli/main.c): OpenMP workers sleep between the
     * ops' parallel regions; the user's OMP_WAIT_POLICY wins */
    lps_default_runtime_env(argv);
    int64_t batch = DEFAULT_BATCH, steps = DEFAULT_STEPS;
    const char *spec = LPS_FASHION_MNIST_SPEC;
    bool reference = true;
    int first_model = argc;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--batch") == 0 && has_value)
            batch = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--steps") == 0 && has_value)
            steps = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--data") == 0 && has_value)
            spec = argv[++i];
        else if (strcmp(argv[i], "--no-reference") == 0)
            reference = false;
        else if (argv[i][0] == '-')
            return usage();
        else {
            first_model = i;
            break;
        }
    }
    if (first_model == argc || batch < 1 || steps < 1)
        return usage();
    lps_error err = {0};
    lps_dataset full = {0}, train = {0};
    lps_status st = lps_dist_init(&argc, &argv, &err);
    /* Rank 0 prints; the others' lines would repeat it. */
    if (st == LPS_OK && lps_dist_rank() != 0 && !freopen("/dev/null", "w", stdout))
        st = lps_fail(&err, LPS_ERR_IO, "/dev/null: cannot open");
    if (st == LPS_OK)
        st = lps_dataset_open(&full, spec, LPS_SPLIT_TRAIN, NULL, &err);
    if (st == LPS_OK)
        st = take_first(&full, batch * steps * lps_dist_size(), &train, &err);
    lps_dataset_release(&full);
    printf("OpenBLAS %s, %d threads\n", openblas_get_config(), openblas_get_num_threads());
    for (int i = first_model; i < argc && st == LPS_OK; i++)
        st = bench_model(argv[i], &train, batch, steps, reference, &err);
    lps_dataset_release(&train);
    if (st != LPS_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        lps_dist_abort(1);
        return 1;
    }
    lps_dist_finalize();
    return 0;
}
