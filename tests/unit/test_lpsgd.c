#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "sparsity/lpsgd.h"
#include "test_suite.h"

enum { ROWS = 6, LEN = 37, NUMEL = ROWS * LEN };

static float frand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static void fill(float *x, int n, float scale, unsigned seed)
{
    for (int i = 0; i < n; i++)
        x[i] = scale * frand(&seed);
}

static double row_norm(const float *x, int n, double p)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += pow(fabs((double)x[i]), p);
    return pow(s, 1.0 / p);
}

static const lps_lpsgd_hparams PLAIN = {.lr = 0.1f, .freeze_gain = 1};

START_TEST(init_then_export_reproduces_weight)
{
    static const double ps[] = {1.05, 1.07, 1.5, 2.0};
    int64_t unit_dims[2] = {ROWS, LEN};
    int64_t col_dims[2] = {LEN, ROWS}; /* [in, out] */
    lps_row_layout layouts[2] = {lps_rows_unit_major(2, unit_dims),
                                 lps_rows_column_major(col_dims)};
    float w[NUMEL], out[NUMEL];
    fill(w, NUMEL, 3.0f, 42u);
    for (int k = 0; k < NUMEL; k++)
        if (lps_row_offset(&layouts[1], 2, k % LEN) == k || k / LEN == 4)
            w[k] = 0.0f; /* a zero row in each layout */
    for (int l = 0; l < 2; l++)
        for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
            lps_lpsgd_state st;
            ck_assert_int_eq(lps_lpsgd_init(&st, w, layouts[l], NUMEL, ps[pi], NULL), LPS_OK);
            lps_lpsgd_export(&st, out);
            for (int k = 0; k < NUMEL; k++)
                ck_assert_msg(fabsf(out[k] - w[k]) <= 1e-6f * fabsf(w[k]),
                              "layout %d p %g element %d: %.9g vs %.9g", l, ps[pi], k, out[k],
                              w[k]);
            for (int j = 0; j < ROWS; j++) {
                double nu = row_norm(st.u + j * LEN, LEN, st.p);
                ck_assert(fabs(nu - 1.0) < 1e-6 || (nu == 0.0 && st.gain[j] == 0.0f));
            }
            lps_lpsgd_free(&st);
        }
}
END_TEST

/* Runs steps with pseudo-random gradients and a partial mask. */
static void run_steps(lps_lpsgd_state *st, int steps, const lps_lpsgd_hparams *hp, unsigned seed)
{
    float grad[NUMEL];
    for (int s = 0; s < steps; s++) {
        fill(grad, NUMEL, 1.0f, seed + (unsigned)s * 7919u);
        ck_assert_int_eq(lps_lpsgd_step(st, grad, hp, NULL), LPS_OK);
    }
}

START_TEST(rows_stay_on_the_unit_sphere)
{
    static const double ps[] = {1.05, 1.07, 1.3, 2.0};
    int64_t dims[2] = {ROWS, LEN};
    float w[NUMEL];
    fill(w, NUMEL, 1.0f, 3u);
    lps_lpsgd_hparams hp = {.lr = 0.2f, .momentum = 0.9f, .nesterov = 1, .gain_lr = 0.01f};
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
        lps_lpsgd_state st;
        ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_unit_major(2, dims), NUMEL, ps[pi], NULL),
                         LPS_OK);
        for (int k = 0; k < NUMEL; k += 3)
            st.mask[k] = 0;
        run_steps(&st, 300, &hp, 11u);
        for (int j = 0; j < ROWS; j++) {
            double nu = row_norm(st.u + j * LEN, LEN, st.p);
            double nv = row_norm(st.v + j * LEN, LEN, st.q);
            ck_assert_msg(fabs(nu - 1.0) < 1e-5, "p %g row %d: ||u||_p = %.9f", ps[pi], j, nu);
            ck_assert_msg(fabs(nv - 1.0) < 1e-5, "p %g row %d: ||v||_q = %.9f", ps[pi], j, nv);
            ck_assert(isfinite(st.gain[j]));
        }
        lps_lpsgd_free(&st);
    }
}
END_TEST

START_TEST(p2_step_matches_closed_form)
{
    int64_t dims[2] = {LEN, ROWS};
    lps_row_layout layout = lps_rows_column_major(dims);
    float w[NUMEL], grad[NUMEL];
    fill(w, NUMEL, 2.0f, 5u);
    fill(grad, NUMEL, 1.0f, 6u);
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, layout, NUMEL, 2.0, NULL), LPS_OK);
    double lr = PLAIN.lr;
    double expect[NUMEL];
    for (int j = 0; j < ROWS; j++) {
        /* p = q = 2: u = v = w / ||w||_2; d = g * grad; v' = normalise((1-lr) v - lr d/||d||) */
        double g = 0.0, dn = 0.0, xn = 0.0, x[LEN];
        for (int i = 0; i < LEN; i++)
            g += (double)w[lps_row_offset(&layout, j, i)] * w[lps_row_offset(&layout, j, i)];
        g = sqrt(g);
        for (int i = 0; i < LEN; i++)
            dn += pow(g * grad[lps_row_offset(&layout, j, i)], 2.0);
        dn = sqrt(dn);
        for (int i = 0; i < LEN; i++) {
            int64_t k = lps_row_offset(&layout, j, i);
            x[i] = (1.0 - lr) * w[k] / g - lr * g * grad[k] / dn;
            xn += x[i] * x[i];
        }
        for (int i = 0; i < LEN; i++)
            expect[j * LEN + i] = x[i] / sqrt(xn);
    }
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &PLAIN, NULL), LPS_OK);
    for (int k = 0; k < NUMEL; k++) {
        ck_assert_msg(fabs(st.u[k] - expect[k]) < 1e-5, "u[%d] %.8f vs %.8f", k, st.u[k], expect[k]);
        ck_assert(fabs(st.v[k] - expect[k]) < 1e-5);
    }
    lps_lpsgd_free(&st);
}
END_TEST

START_TEST(converges_to_the_linear_loss_minimiser)
{
    /* For loss c.u on the unit Lp sphere the minimiser is
     * u* = -sign(c) |c|^(q-1) / ||c||_q^(q-1); LpSGD is a fixed-point
     * iteration of exactly that condition. */
    int64_t dims[2] = {ROWS, LEN};
    float w[NUMEL], c[NUMEL], grad[NUMEL];
    fill(w, NUMEL, 1.0f, 8u);
    fill(c, NUMEL, 1.0f, 9u);
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_unit_major(2, dims), NUMEL, 1.3, NULL), LPS_OK);
    for (int j = 0; j < ROWS; j++)
        for (int i = 0; i < LEN; i++)
            grad[j * LEN + i] = c[j * LEN + i] / st.gain[j]; /* so d(loss)/du = c */
    lps_lpsgd_hparams hp = PLAIN;
    hp.lr = 0.3f;
    for (int s = 0; s < 200; s++)
        ck_assert_int_eq(lps_lpsgd_step(&st, grad, &hp, NULL), LPS_OK);
    for (int j = 0; j < ROWS; j++) {
        double cq = row_norm(c + j * LEN, LEN, st.q);
        for (int i = 0; i < LEN; i++) {
            double ci = c[j * LEN + i];
            double ustar = -copysign(pow(fabs(ci) / cq, st.q - 1.0), ci);
            ck_assert_msg(fabs(st.u[j * LEN + i] - ustar) < 1e-5, "row %d pos %d: %.8f vs %.8f",
                          j, i, st.u[j * LEN + i], ustar);
        }
    }
    lps_lpsgd_free(&st);
}
END_TEST

START_TEST(zero_row_is_left_unchanged)
{
    int64_t dims[2] = {ROWS, LEN};
    float w[NUMEL], out[NUMEL];
    fill(w, NUMEL, 1.0f, 12u);
    memset(w + 3 * LEN, 0, LEN * sizeof *w);
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_unit_major(2, dims), NUMEL, 1.1, NULL), LPS_OK);
    ck_assert_float_eq(st.gain[3], 0.0f);
    lps_lpsgd_hparams hp = {.lr = 0.2f, .momentum = 0.9f, .gain_lr = 0.1f};
    run_steps(&st, 20, &hp, 13u);
    ck_assert_float_eq(st.gain[3], 0.0f);
    lps_lpsgd_export(&st, out);
    for (int i = 0; i < LEN; i++) {
        ck_assert_float_eq(st.u[3 * LEN + i], 0.0f);
        ck_assert_float_eq(st.v[3 * LEN + i], 0.0f);
        ck_assert_float_eq(out[3 * LEN + i], 0.0f);
    }
    lps_lpsgd_free(&st);
}
END_TEST

START_TEST(masked_positions_decay_and_ignore_gradient)
{
    int64_t dims[2] = {ROWS, LEN};
    float w[NUMEL], g1[NUMEL], g2[NUMEL], out[NUMEL];
    fill(w, NUMEL, 1.0f, 14u);
    fill(g1, NUMEL, 1.0f, 15u);
    memcpy(g2, g1, sizeof g1);
    lps_lpsgd_state a, b;
    lps_row_layout layout = lps_rows_unit_major(2, dims);
    ck_assert_int_eq(lps_lpsgd_init(&a, w, layout, NUMEL, 1.2, NULL), LPS_OK);
    ck_assert_int_eq(lps_lpsgd_init(&b, w, layout, NUMEL, 1.2, NULL), LPS_OK);
    for (int k = 0; k < NUMEL; k += 4) {
        a.mask[k] = b.mask[k] = 0;
        g2[k] += 100.0f; /* must not matter */
    }
    float v_before[NUMEL];
    memcpy(v_before, a.v, sizeof v_before);
    lps_lpsgd_hparams hp = {.lr = 0.2f, .momentum = 0.5f, .gain_lr = 0.05f};
    ck_assert_int_eq(lps_lpsgd_step(&a, g1, &hp, NULL), LPS_OK);
    ck_assert_int_eq(lps_lpsgd_step(&b, g2, &hp, NULL), LPS_OK);
    ck_assert_mem_eq(a.u, b.u, sizeof w);
    ck_assert_mem_eq(a.gain, b.gain, ROWS * sizeof(float));
    lps_lpsgd_export(&a, out);
    for (int j = 0; j < ROWS; j++) {
        /* every masked v of a row shrinks by the same (1 - lr) / ||x||_q */
        double ratio = 0.0;
        for (int i = 0; i < LEN; i++) {
            int k = j * LEN + i;
            if (k % 4 != 0)
                continue;
            if (ratio == 0.0)
                ratio = a.v[k] / v_before[k];
            ck_assert(fabs(a.v[k] / v_before[k] - ratio) < 1e-5);
            ck_assert_float_eq(out[k], 0.0f);
            ck_assert_float_eq(a.momentum[k], 0.0f);
        }
        ck_assert(ratio > 0.5 && ratio < 1.0);
    }
    lps_lpsgd_free(&a);
    lps_lpsgd_free(&b);
}
END_TEST

START_TEST(gain_takes_an_sgd_step_on_its_gradient)
{
    int64_t dims[2] = {ROWS, LEN};
    float w[NUMEL], grad[NUMEL];
    fill(w, NUMEL, 1.0f, 16u);
    fill(grad, NUMEL, 1.0f, 17u);
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_unit_major(2, dims), NUMEL, 1.5, NULL), LPS_OK);
    st.mask[5] = 0;
    double expect[ROWS];
    for (int j = 0; j < ROWS; j++) {
        double dg = 0.0;
        for (int i = 0; i < LEN; i++)
            if (st.mask[j * LEN + i])
                dg += (double)st.u[j * LEN + i] * grad[j * LEN + i];
        expect[j] = st.gain[j] - 0.25 * dg;
    }
    lps_lpsgd_hparams hp = {.lr = 0.1f, .gain_lr = 0.25f};
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &hp, NULL), LPS_OK);
    for (int j = 0; j < ROWS; j++)
        ck_assert_double_eq_tol(st.gain[j], expect[j], 1e-5);
    float frozen[ROWS];
    memcpy(frozen, st.gain, sizeof frozen);
    hp.freeze_gain = 1;
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &hp, NULL), LPS_OK);
    ck_assert_mem_eq(frozen, st.gain, sizeof frozen);
    lps_lpsgd_free(&st);
}
END_TEST

START_TEST(rejects_bad_input_and_keeps_state)
{
    int64_t dims[2] = {ROWS, LEN};
    lps_row_layout layout = lps_rows_unit_major(2, dims);
    float w[NUMEL], grad[NUMEL];
    fill(w, NUMEL, 1.0f, 18u);
    fill(grad, NUMEL, 1.0f, 19u);
    lps_error err;
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, layout, NUMEL, 1.0, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_lpsgd_init(&st, w, layout, NUMEL - 1, 1.2, &err), LPS_ERR_INVALID);
    lps_lpsgd_free(&st);
    ck_assert_int_eq(lps_lpsgd_init(&st, w, layout, NUMEL, 1.2, &err), LPS_OK);
    lps_lpsgd_hparams hp = PLAIN;
    hp.lr = 0.5f;
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &hp, &err), LPS_ERR_INVALID);
    float u_before[NUMEL];
    memcpy(u_before, st.u, sizeof u_before);
    grad[2 * LEN + 3] = NAN;
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &PLAIN, &err), LPS_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "row 2"));
    ck_assert_mem_eq(u_before, st.u, sizeof u_before);
    /* an infinity in the last element (the scan's lanes and its tail) */
    grad[2 * LEN + 3] = 0.0f;
    grad[NUMEL - 1] = -INFINITY;
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &PLAIN, &err), LPS_ERR_RUNTIME);
    char last_row[32];
    snprintf(last_row, sizeof last_row, "row %d", (int)((NUMEL - 1) / LEN));
    ck_assert_ptr_nonnull(strstr(err.msg, last_row));
    lps_lpsgd_free(&st);
    lps_lpsgd_free(NULL);
}
END_TEST

START_TEST(subnormal_gradient_counts_as_none)
{
    int64_t dims[2] = {ROWS, LEN};
    float w[NUMEL], grad[NUMEL];
    fill(w, NUMEL, 1.0f, 20u);
    fill(grad, NUMEL, 1e-39f, 21u);
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_unit_major(2, dims), NUMEL, 1.1, NULL), LPS_OK);
    float v_before[NUMEL];
    memcpy(v_before, st.v, sizeof v_before);
    ck_assert_int_eq(lps_lpsgd_step(&st, grad, &PLAIN, NULL), LPS_OK);
    for (int k = 0; k < NUMEL; k++) {
        ck_assert(isfinite(st.u[k]) && isfinite(st.v[k]));
        /* normalise((1 - lr) v) = v */
        ck_assert_float_eq_tol(st.v[k], v_before[k], 1e-5f);
    }
    lps_lpsgd_free(&st);
}
END_TEST

START_TEST(default_p_interpolates_published_points)
{
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.5, 0), 1.3, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.8, 0), 1.15, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.9, 0), 1.07, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.85, 0), 1.11, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.5, 1), 1.4, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.9, 1), 1.2, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.0, 0), 2.0, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.25, 0), 1.65, 1e-12);
    /* beyond 0.9: the last slope, floored */
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.92, 0), 1.054, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.98, 0), LPS_LPSGD_DEFAULT_P_FLOOR, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(0.98, 1), 1.12, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(7.0, 0), LPS_LPSGD_DEFAULT_P_FLOOR, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_p(-1.0, 1), 2.0, 1e-12);
    ck_assert_double_eq_tol(lps_lpsgd_default_lr(1.07), 0.00105, 1e-12);
}
END_TEST

/* A layer big enough to split over threads (core/par.h): 64 rows of 512,
 * about 2.6 MFLOP a step. */
enum { BIG_ROWS = 64, BIG_LEN = 512, BIG_NUMEL = BIG_ROWS * BIG_LEN, BIG_STEPS = 3 };

/* u, v, momentum and gains after BIG_STEPS momentum steps at `threads`
 * OpenMP threads, into out (3 * BIG_NUMEL + BIG_ROWS floats). */
static void big_steps(int threads, float *out)
{
    static float w[BIG_NUMEL], grad[BIG_NUMEL];
    fill(w, BIG_NUMEL, 1.0f, 51u);
    int64_t dims[2] = {BIG_ROWS, BIG_LEN};
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_unit_major(2, dims), BIG_NUMEL, 1.07, NULL),
                     LPS_OK);
    lps_lpsgd_hparams hp = {.lr = 0.01f, .momentum = 0.9f, .gain_lr = 0.01f};
    omp_set_num_threads(threads);
    for (int s = 0; s < BIG_STEPS; s++) {
        fill(grad, BIG_NUMEL, 0.1f, 60u + (unsigned)s);
        ck_assert_int_eq(lps_lpsgd_step(&st, grad, &hp, NULL), LPS_OK);
    }
    omp_set_num_threads(1);
    memcpy(out, st.u, sizeof(float) * BIG_NUMEL);
    memcpy(out + BIG_NUMEL, st.v, sizeof(float) * BIG_NUMEL);
    memcpy(out + 2 * BIG_NUMEL, st.momentum, sizeof(float) * BIG_NUMEL);
    memcpy(out + 3 * BIG_NUMEL, st.gain, sizeof(float) * BIG_ROWS);
    lps_lpsgd_free(&st);
}

START_TEST(rows_split_over_threads_give_the_same_bytes)
{
    /* 80: lpsgd.c's flops per weight; the layer is split at two threads */
    omp_set_num_threads(2);
    ck_assert_int_eq(lps_par_chunks(BIG_ROWS, (double)BIG_NUMEL * 80.0), 2);
    enum { OUT = 3 * BIG_NUMEL + BIG_ROWS };
    float *one = malloc(sizeof(float) * OUT), *two = malloc(sizeof(float) * OUT),
          *again = malloc(sizeof(float) * OUT);
    ck_assert(one && two && again);
    big_steps(1, one);
    big_steps(2, two);
    big_steps(2, again);
    ck_assert_int_eq(memcmp(two, again, sizeof(float) * OUT), 0);
    ck_assert_int_eq(memcmp(one, two, sizeof(float) * OUT), 0);
    free(one);
    free(two);
    free(again);
}
END_TEST

/* lps_lpsgd_step_export writes, for both layouts and at one and two
 * threads, the bytes of lps_lpsgd_step then lps_lpsgd_export (gains
 * trained with Nesterov momentum, a partial mask), and leaves the same
 * state. */
START_TEST(step_export_equals_step_then_export)
{
    static float w[BIG_NUMEL], grad[BIG_NUMEL], fused[BIG_NUMEL], apart[BIG_NUMEL];
    int64_t unit_dims[2] = {BIG_ROWS, BIG_LEN}, col_dims[2] = {BIG_LEN, BIG_ROWS};
    lps_row_layout layouts[2] = {lps_rows_unit_major(2, unit_dims),
                                 lps_rows_column_major(col_dims)};
    lps_lpsgd_hparams hp = {.lr = 0.01f, .momentum = 0.9f, .nesterov = 1, .gain_lr = 0.01f,
                            .gain_sgd = {.momentum = 0.9f, .nesterov = 1}};
    fill(w, BIG_NUMEL, 1.0f, 71u);
    for (int threads = 1; threads <= 2; threads++)
        for (int l = 0; l < 2; l++) {
            lps_lpsgd_state a, b;
            ck_assert_int_eq(lps_lpsgd_init(&a, w, layouts[l], BIG_NUMEL, 1.07, NULL), LPS_OK);
            ck_assert_int_eq(lps_lpsgd_init(&b, w, layouts[l], BIG_NUMEL, 1.07, NULL), LPS_OK);
            for (int k = 0; k < BIG_NUMEL; k += 3)
                a.mask[k] = b.mask[k] = 0;
            omp_set_num_threads(threads);
            for (int s = 0; s < BIG_STEPS; s++) {
                fill(grad, BIG_NUMEL, 0.1f, 80u + (unsigned)s);
                memset(fused, 0xff, sizeof fused); /* NaN: every element must be written */
                ck_assert_int_eq(lps_lpsgd_step_export(&a, grad, &hp, fused, NULL), LPS_OK);
                ck_assert_int_eq(lps_lpsgd_step(&b, grad, &hp, NULL), LPS_OK);
                lps_lpsgd_export(&b, apart);
                ck_assert_msg(memcmp(fused, apart, sizeof fused) == 0,
                              "threads %d layout %d step %d", threads, l, s);
            }
            omp_set_num_threads(1);
            ck_assert_int_eq(memcmp(a.u, b.u, sizeof(float) * BIG_NUMEL), 0);
            ck_assert_int_eq(memcmp(a.gain, b.gain, sizeof(float) * BIG_ROWS), 0);
            ck_assert_int_eq(memcmp(a.gain_momentum, b.gain_momentum, sizeof(float) * BIG_ROWS),
                             0);
            lps_lpsgd_free(&a);
            lps_lpsgd_free(&b);
        }
}
END_TEST

/* Two layers of lps_lpsgd_step_layers (one rows-contiguous, one by
 * columns, different p): the bytes of one lps_lpsgd_step_export each, at
 * one and two threads; a non-finite gradient in the second layer fails
 * naming it and leaves both layers' state and weights as they were. */
typedef struct two_layers {
    lps_lpsgd_layer_step step[2];
} two_layers;

static void two_layers_at(void *user, int layer, lps_lpsgd_layer_step *step)
{
    *step = ((const two_layers *)user)->step[layer];
}

START_TEST(step_layers_equals_one_step_per_layer)
{
    static float w[2][BIG_NUMEL], grad[2][BIG_NUMEL], out[2][2][BIG_NUMEL];
    int64_t unit_dims[2] = {BIG_ROWS, BIG_LEN}, col_dims[2] = {BIG_LEN, BIG_ROWS};
    lps_row_layout layouts[2] = {lps_rows_unit_major(2, unit_dims),
                                 lps_rows_column_major(col_dims)};
    const double ps[2] = {1.2, 1.07};
    lps_lpsgd_hparams hp = {.lr = 0.01f, .momentum = 0.9f, .gain_lr = 0.01f,
                            .gain_sgd = {.momentum = 0.9f}};
    for (int threads = 1; threads <= 2; threads++) {
        lps_lpsgd_state a[2], b[2];
        two_layers job;
        for (int l = 0; l < 2; l++) {
            fill(w[l], BIG_NUMEL, 1.0f, 91u + (unsigned)l);
            ck_assert_int_eq(lps_lpsgd_init(&a[l], w[l], layouts[l], BIG_NUMEL, ps[l], NULL),
                             LPS_OK);
            ck_assert_int_eq(lps_lpsgd_init(&b[l], w[l], layouts[l], BIG_NUMEL, ps[l], NULL),
                             LPS_OK);
            for (int k = l; k < BIG_NUMEL; k += 4)
                a[l].mask[k] = b[l].mask[k] = 0;
            job.step[l] = (lps_lpsgd_layer_step){&a[l], grad[l], hp, out[0][l]};
        }
        omp_set_num_threads(threads);
        for (int s = 0; s < BIG_STEPS; s++) {
            int failed = -1;
            for (int l = 0; l < 2; l++)
                fill(grad[l], BIG_NUMEL, 0.1f, 95u + (unsigned)(s * 2 + l));
            ck_assert_int_eq(lps_lpsgd_step_layers(2, two_layers_at, &job, &failed, NULL),
                             LPS_OK);
            for (int l = 0; l < 2; l++) {
                ck_assert_int_eq(lps_lpsgd_step_export(&b[l], grad[l], &hp, out[1][l], NULL),
                                 LPS_OK);
                ck_assert_msg(memcmp(out[0][l], out[1][l], sizeof out[0][l]) == 0,
                              "threads %d step %d layer %d", threads, s, l);
                ck_assert_int_eq(memcmp(a[l].u, b[l].u, sizeof(float) * BIG_NUMEL), 0);
                ck_assert_int_eq(memcmp(a[l].gain, b[l].gain, sizeof(float) * BIG_ROWS), 0);
            }
        }
        /* a NaN in the second layer's last row: nothing of either layer moves */
        grad[1][BIG_NUMEL - 1] = NAN;
        memcpy(out[1], out[0], sizeof out[0]);
        int failed = -1;
        lps_error err = {0};
        ck_assert_int_eq(lps_lpsgd_step_layers(2, two_layers_at, &job, &failed, &err),
                         LPS_ERR_RUNTIME);
        ck_assert_int_eq(failed, 1);
        ck_assert_msg(strstr(err.msg, "non-finite gradient") != NULL, "%s", err.msg);
        ck_assert_int_eq(memcmp(out[0], out[1], sizeof out[0]), 0);
        for (int l = 0; l < 2; l++) {
            ck_assert_int_eq(memcmp(a[l].u, b[l].u, sizeof(float) * BIG_NUMEL), 0);
            ck_assert_int_eq(memcmp(a[l].momentum, b[l].momentum, sizeof(float) * BIG_NUMEL),
                             0);
            ck_assert_int_eq(memcmp(a[l].gain, b[l].gain, sizeof(float) * BIG_ROWS), 0);
        }
        omp_set_num_threads(1);
        for (int l = 0; l < 2; l++) {
            lps_lpsgd_free(&a[l]);
            lps_lpsgd_free(&b[l]);
        }
    }
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", init_then_export_reproduces_weight, 1},
        {"core", step_layers_equals_one_step_per_layer, 1},
        {"core", rows_stay_on_the_unit_sphere, 1},
        {"core", p2_step_matches_closed_form, 1},
        {"core", converges_to_the_linear_loss_minimiser, 1},
        {"core", zero_row_is_left_unchanged, 1},
        {"core", masked_positions_decay_and_ignore_gradient, 1},
        {"core", gain_takes_an_sgd_step_on_its_gradient, 1},
        {"core", rejects_bad_input_and_keeps_state, 1},
        {"core", default_p_interpolates_published_points, 1},
        {"core", subnormal_gradient_counts_as_none, 1},
        {"threads", rows_split_over_threads_give_the_same_bytes, 1},
        {"threads", step_export_equals_step_then_export, 1},
    };
    return test_run_table("lpsgd", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
