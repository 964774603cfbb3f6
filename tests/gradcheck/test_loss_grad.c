#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_suite.h"
#include "train/loss.h"

enum { BATCH = 3, CLASSES = 5, N = BATCH * CLASSES };

/* Central-difference step on a float logit; the loss itself is computed in
 * double, so the actual (rounded) perturbation is measured and used. */
static const double FD_STEP = 1e-2;
static const double FD_TOL = 2e-4;

typedef double (*loss_fn)(float *x, const void *ctx, float *grad);

static void gradcheck(loss_fn f, float *x, int n, const void *ctx)
{
    float grad[N * 2];
    f(x, ctx, grad);
    for (int i = 0; i < n; i++) {
        float saved = x[i];
        float up = (float)(saved + FD_STEP);
        float down = (float)(saved - FD_STEP);
        x[i] = up;
        double lu = f(x, ctx, NULL);
        x[i] = down;
        double ld = f(x, ctx, NULL);
        x[i] = saved;
        double fd = (lu - ld) / ((double)up - (double)down);
        ck_assert_msg(fabs(fd - grad[i]) <= FD_TOL * (1.0 + fabs(fd)),
                      "element %d: analytic %.8g, finite difference %.8g", i, grad[i], fd);
    }
}

static const int64_t LABELS[BATCH] = {0, 4, 2};

static void fill_logits(float *z, int n, float scale, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        z[i] = scale * ((float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f);
    }
}

static double ce_fn(float *x, const void *ctx, float *grad)
{
    double loss;
    float eps = *(const float *)ctx;
    ck_assert_int_eq(lps_softmax_cross_entropy(BATCH, CLASSES, x, LABELS, eps, &loss, grad, NULL),
                     LPS_OK);
    return loss;
}

START_TEST(cross_entropy_gradient)
{
    float z[N];
    fill_logits(z, N, 6.0f, 1u);
    float eps = 0.0f;
    gradcheck(ce_fn, z, N, &eps);
    eps = 0.1f;
    gradcheck(ce_fn, z, N, &eps);
}
END_TEST

START_TEST(cross_entropy_known_values_and_large_logits)
{
    float uniform[CLASSES] = {0};
    int64_t label[1] = {3};
    double loss;
    float g[CLASSES];
    ck_assert_int_eq(lps_softmax_cross_entropy(1, CLASSES, uniform, label, 0.0f, &loss, g, NULL),
                     LPS_OK);
    ck_assert_double_eq_tol(loss, log((double)CLASSES), 1e-12);
    ck_assert_float_eq_tol(g[3], 0.2f - 1.0f, 1e-7f);
    /* Logits around 1e4 overflow a naive exp in float and double alike. */
    float big[CLASSES] = {1e4f, 1e4f - 2.0f, -1e4f, 3e4f, 0.0f};
    ck_assert_int_eq(lps_softmax_cross_entropy(1, CLASSES, big, label, 0.0f, &loss, g, NULL),
                     LPS_OK);
    ck_assert(isfinite(loss));
    ck_assert_double_eq_tol(loss, 0.0, 1e-12);
    int64_t wrong[1] = {0};
    ck_assert_int_eq(lps_softmax_cross_entropy(1, CLASSES, big, wrong, 0.0f, &loss, g, NULL),
                     LPS_OK);
    ck_assert_double_eq_tol(loss, 2e4, 1e-6);
    ck_assert_float_eq_tol(g[0], -1.0f, 1e-7f);
    ck_assert_float_eq_tol(g[3], 1.0f, 1e-7f);
}
END_TEST

START_TEST(cross_entropy_rejects_bad_input)
{
    lps_error err;
    float z[CLASSES] = {0};
    double loss;
    int64_t bad[1] = {CLASSES};
    ck_assert_int_eq(lps_softmax_cross_entropy(1, CLASSES, z, bad, 0.0f, &loss, NULL, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "label 5"));
    int64_t ok[1] = {1};
    z[2] = INFINITY;
    ck_assert_int_eq(lps_softmax_cross_entropy(1, CLASSES, z, ok, 0.0f, &loss, NULL, &err),
                     LPS_ERR_RUNTIME);
    z[2] = 0.0f;
    ck_assert_int_eq(lps_softmax_cross_entropy(1, CLASSES, z, ok, 1.0f, &loss, NULL, &err),
                     LPS_ERR_INVALID);
}
END_TEST

typedef struct mse_ctx {
    const float *target;
} mse_ctx;

static double mse_fn(float *x, const void *ctx, float *grad)
{
    double loss;
    ck_assert_int_eq(lps_mse_loss(N, x, ((const mse_ctx *)ctx)->target, &loss, grad, NULL), LPS_OK);
    return loss;
}

START_TEST(mse_gradient_and_value)
{
    float pred[N], target[N];
    fill_logits(pred, N, 2.0f, 7u);
    fill_logits(target, N, 2.0f, 11u);
    mse_ctx ctx = {target};
    gradcheck(mse_fn, pred, N, &ctx);
    float p2[2] = {1.0f, 3.0f}, t2[2] = {0.0f, 1.0f};
    double loss;
    ck_assert_int_eq(lps_mse_loss(2, p2, t2, &loss, NULL, NULL), LPS_OK);
    ck_assert_double_eq_tol(loss, 2.5, 1e-15);
}
END_TEST

typedef struct distill_ctx {
    const float *teacher;
    lps_distill_config cfg;
} distill_ctx;

static double distill_fn(float *x, const void *ctx, float *grad)
{
    const distill_ctx *c = ctx;
    double loss;
    ck_assert_int_eq(
        lps_distill_loss(BATCH, CLASSES, x, c->teacher, LABELS, &c->cfg, &loss, grad, NULL),
        LPS_OK);
    return loss;
}

START_TEST(distillation_gradient_pure_and_mixed)
{
    float s[N], t[N];
    fill_logits(s, N, 5.0f, 3u);
    fill_logits(t, N, 5.0f, 5u);
    distill_ctx ctx = {t, {.temperature = 2.0, .ce_weight = 0.0}};
    gradcheck(distill_fn, s, N, &ctx);
    ctx.cfg.ce_weight = 0.3;
    ctx.cfg.label_smoothing = 0.05f;
    gradcheck(distill_fn, s, N, &ctx);
    ctx.cfg.temperature = 0.5;
    gradcheck(distill_fn, s, N, &ctx);
}
END_TEST

START_TEST(distillation_values)
{
    lps_distill_config cfg = {.temperature = 2.0};
    float s[CLASSES];
    fill_logits(s, CLASSES, 4.0f, 9u);
    double loss;
    float g[CLASSES];
    ck_assert_int_eq(lps_distill_loss(1, CLASSES, s, s, NULL, &cfg, &loss, g, NULL), LPS_OK);
    ck_assert_double_eq_tol(loss, 0.0, 1e-12);
    for (int c = 0; c < CLASSES; c++)
        ck_assert_float_eq_tol(g[c], 0.0f, 1e-7f);
    /* Two classes: KL(t||s) by hand at T = 2. */
    float s2[2] = {0.0f, 2.0f}, t2[2] = {2.0f, 0.0f};
    double a = 1.0 / (1.0 + exp(-1.0)); /* softmax(t/2)[0] = softmax(s/2)[1] */
    double expect = 4.0 * (a * log(a / (1.0 - a)) + (1.0 - a) * log((1.0 - a) / a));
    ck_assert_int_eq(lps_distill_loss(1, 2, s2, t2, NULL, &cfg, &loss, NULL, NULL), LPS_OK);
    ck_assert_double_eq_tol(loss, expect, 1e-9);
    /* Large logits stay finite. */
    float sb[2] = {5e4f, -5e4f}, tb[2] = {-5e4f, 5e4f};
    ck_assert_int_eq(lps_distill_loss(1, 2, sb, tb, NULL, &cfg, &loss, g, NULL), LPS_OK);
    ck_assert(isfinite(loss) && isfinite(g[0]) && isfinite(g[1]));
    ck_assert_double_eq_tol(loss, 4.0 * 5e4, 1e-3);
    lps_error err;
    cfg.ce_weight = 0.5;
    ck_assert_int_eq(lps_distill_loss(1, 2, sb, tb, NULL, &cfg, &loss, g, &err), LPS_ERR_INVALID);
    cfg.ce_weight = 0.0;
    cfg.temperature = 0.0;
    ck_assert_int_eq(lps_distill_loss(1, 2, sb, tb, NULL, &cfg, &loss, g, &err), LPS_ERR_INVALID);
}
END_TEST

START_TEST(top1_counts_first_max)
{
    float z[3 * 3] = {1, 5, 2, 7, 7, 0, 0, 0, -1};
    int64_t labels[3] = {1, 1, 2};
    ck_assert_int_eq(lps_top1_correct(3, 3, z, labels), 1);
    labels[1] = 0;
    labels[2] = 0;
    ck_assert_int_eq(lps_top1_correct(3, 3, z, labels), 3);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", cross_entropy_gradient, 1},
        {"core", cross_entropy_known_values_and_large_logits, 1},
        {"core", cross_entropy_rejects_bad_input, 1},
        {"core", mse_gradient_and_value, 1},
        {"core", distillation_gradient_pure_and_mixed, 1},
        {"core", distillation_values, 1},
        {"core", top1_counts_first_max, 1},
    };
    return test_run_table("loss", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
